import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

/** TLS material of a secure connection (absent: plaintext). */
export interface ChannelTls {
  ca?: Buffer | undefined;
  cert?: Buffer | undefined;
  key?: Buffer | undefined;
}

/** A connection to `authority` (plaintext, or TLS offering h2), without Nagle delay (as grpc-js's). */
export function openSocket(authority: string, tls: ChannelTls | undefined): Socket {
  const host = authority.startsWith('[')
    ? authority.slice(1, authority.indexOf(']'))
    : authority.split(':')[0]!;
  const port = Number(authority.slice(authority.lastIndexOf(':') + 1));
  if (!tls) return netConnect({ host, port, noDelay: true });
  return tlsConnect({
    host,
    port,
    ca: tls.ca,
    cert: tls.cert,
    key: tls.key,
    ALPNProtocols: ['h2'],
    // SNI carries host names only; an IP address is still checked against the certificate.
    ...(isIP(host) ? {} : { servername: host }),
  }).setNoDelay(true);
}
