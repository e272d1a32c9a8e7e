#!/usr/bin/env node
// The `concord-etcd` bin. Nothing here is part of the library: the library entry never imports it.
// It loads the commands only when it runs one (and they load etcd3 and gRPC, half a second, only
// when they connect): as a guard (see guard.ts) it starts CMD without any of them.
import { GUARD_COMMAND, runGuard } from './guard.js';

/** How long the process may take to exit by itself once done, before it is made to. */
const EXIT_GRACE_MS = 5_000;

// gRPC sets a TLS servername for IP endpoints, which Node reports as deprecated (DEP0123) on
// stderr: nothing the operator can act on, and noise in a tool whose stderr speaks for itself.
process.noDeprecation = true;

const argv = process.argv.slice(2);
const code =
  argv[0] === GUARD_COMMAND ? await runGuard(argv.slice(1)) : await (await import('./app.js')).cli(argv);
process.exitCode = code;
// Everything is released by now and the process exits by itself; if something still holds the
// event loop (a socket etcd never closed), say so and exit anyway rather than hang a script.
setTimeout(() => {
  process.stderr.write(`concord-etcd: still open ${EXIT_GRACE_MS} ms after finishing; exiting\n`);
  process.exit(code);
}, EXIT_GRACE_MS).unref();
