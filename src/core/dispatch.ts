/**
 * Resolves in the event loop's next check phase (`setImmediate`), once every promise callback
 * queued so far has run. etcd3 starts a call a few promise hops after it is made, so by then a
 * call made just before is on its way to etcd: teardown done after this point (closing a stream
 * nobody needs any more) no longer delays that call, nor whoever waits for its effect.
 */
export function afterDispatch(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
