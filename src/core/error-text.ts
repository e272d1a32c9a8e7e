/** The message of an error, or the value itself as text: what logs and wrapped messages show. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
