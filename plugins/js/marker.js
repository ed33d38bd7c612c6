// marker-js: the `marker` example plugin in JavaScript (componentize-js, StarlingMonkey).
//
// For each hook delivery it writes `<dir>/<pod>_<container>.<phase>` (for example
// `/out/web_nginx.post-start`) holding one `key=value` line per event field, logs what it
// wrote, and returns. The file's contents are byte-for-byte those of the Rust `marker`.
//
// Config keys (the pod manifest's `wasm.config`):
//   dir      guest path of a directory granted read-write in the manifest (default `/out`)
//   message  free text copied into the file (default empty)
//   fail     `true` fails the hook on purpose, without writing anything
//
// How WIT looks from JavaScript: the exported interface `handler` is an exported object
// with a `handle` function; record fields are camelCase (`event.podName`); enums are
// their WIT names as strings (`'post-start'`); `list<tuple<string, string>>` is an array
// of `[key, value]` arrays; `option<T>` is the value or `undefined`; `u64` is a BigInt.
// Throwing a string fails the hook with `err(string)`; throwing anything else (an Error)
// crashes the plugin instead, so only strings are thrown here.

import { log } from 'hooklet:hook/log@0.1.0';
import { getDirectories } from 'wasi:filesystem/preopens@0.2.12';

/** `name` with path separators replaced, so it stays one file name. */
const fileSafe = (name) => name.replace(/[/\\]/g, '_');

/** The marker file's contents: one `key=value` line per field. */
function describe(event, config) {
  const fields = [
    ['phase', event.phase],
    ['namespace', event.podNamespace],
    ['pod', event.podName],
    ['pod-uid', event.podUid],
    ['container', event.containerName],
    ['container-id', event.containerId],
    ['image', event.image],
    ['delivery-id', event.deliveryId],
    ['attempt', String(event.attempt)],
    ['message', config.get('message') ?? ''],
  ];
  return fields.map(([key, value]) => `${key}=${value}\n`).join('');
}

/**
 * Writes `bytes` to the absolute guest path `path` through WASI: finds the granted
 * directory (a preopen) holding it and opens the file relative to that. Throws the WASI
 * error code (`'no-entry'`, `'read-only'`, ...) or `'not-granted'`.
 */
function writeFile(path, bytes) {
  const grant = getDirectories().find(([, root]) => path.startsWith(root.replace(/\/*$/, '/')));
  if (!grant) throw 'not-granted';
  const [dir, root] = grant;
  const relative = path.slice(root.replace(/\/*$/, '/').length);
  let file;
  try {
    file = dir.openAt({}, relative, { create: true, truncate: true }, { write: true });
    let offset = 0;
    while (offset < bytes.length) {
      offset += Number(file.write(bytes.subarray(offset), BigInt(offset)));
    }
  } catch (err) {
    // A failed WASI call throws an error whose `payload` is the WIT `error-code`.
    throw err?.payload ?? String(err);
  }
}

export const handler = {
  handle(event) {
    // `config` is a list of [key, value] pairs; the first pair of a key wins.
    const config = new Map([...event.config].reverse());
    if (config.get('fail') === 'true') {
      log('error', `failing ${event.phase} hook of ${event.podName}/${event.containerName} on purpose`);
      throw 'marker: failing on purpose (config fail=true)';
    }
    const dir = config.get('dir') ?? '/out';
    const path = `${dir.replace(/\/+$/, '')}/${fileSafe(event.podName)}_${fileSafe(event.containerName)}.${event.phase}`;
    const bytes = new TextEncoder().encode(describe(event, config));
    try {
      writeFile(path, bytes);
    } catch (code) {
      throw `marker: cannot write ${path}: ${code}; grant the plugin a read-write directory at ` +
        `guest path \`${dir}\` ([[capabilities.dirs]] in its manifest) or set config \`dir\``;
    }
    log('info', `wrote ${path} (${bytes.length} bytes)`);
  },
};
