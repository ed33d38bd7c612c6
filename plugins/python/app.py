"""marker_py: the `marker` example plugin in Python.

For each hook delivery it writes `<dir>/<pod>_<container>.<phase>` (for example
`/out/web_nginx.post-start`) holding one `key=value` line per event field, logs what it
wrote, and returns. The file's contents are byte-for-byte those of the Rust `marker`.

Config keys (from the pod manifest's `wasm.config`):
  dir      guest path of a directory granted read-write in the manifest (default `/out`)
  message  free text copied into the file (default empty)
  fail     `true` fails the hook on purpose, without writing anything

componentize-py generates the `wit_world` package from `wit/hook.wit` at build time
(`componentize-py -d wit -w hook bindings DIR` writes it out for reading). The export is
the class named after the exported interface, `Handler`; `raise Err(text)` returns
`err(text)`, which hooklet reports as the hook's failure.
"""

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.handler import Event, Phase
from wit_world.imports import log
from wit_world.imports.log import Level

PHASES = {Phase.POST_START: "post-start", Phase.PRE_STOP: "pre-stop"}


def file_safe(name: str) -> str:
    """`name` with path separators replaced, so it stays one file name."""
    return name.replace("/", "_").replace("\\", "_")


def describe(event: Event, config: dict) -> str:
    """The marker file's contents: one `key=value` line per field."""
    fields = [
        ("phase", PHASES[event.phase]),
        ("namespace", event.pod_namespace),
        ("pod", event.pod_name),
        ("pod-uid", event.pod_uid),
        ("container", event.container_name),
        ("container-id", event.container_id),
        ("image", event.image),
        ("delivery-id", event.delivery_id),
        ("attempt", str(event.attempt)),
        ("message", config.get("message", "")),
    ]
    return "".join(f"{key}={value}\n" for key, value in fields)


class Handler(exports.Handler):
    def handle(self, event: Event) -> None:
        # `config` is a list of (key, value) pairs; the first pair of a key wins.
        config = {}
        for key, value in event.config:
            config.setdefault(key, value)
        phase = PHASES[event.phase]
        if config.get("fail") == "true":
            log.log(Level.ERROR, f"failing {phase} hook of {event.pod_name}/{event.container_name} on purpose")
            raise Err("marker: failing on purpose (config fail=true)")
        directory = config.get("dir", "/out")
        path = f"{directory.rstrip('/')}/{file_safe(event.pod_name)}_{file_safe(event.container_name)}.{phase}"
        contents = describe(event, config)
        try:
            # newline="" keeps "\n" as is; the file is plain UTF-8 like the Rust plugin's.
            with open(path, "w", encoding="utf-8", newline="") as f:
                f.write(contents)
        except OSError as err:
            raise Err(
                f"marker: cannot write {path}: {err.strerror}; grant the plugin a read-write "
                f"directory at guest path `{directory}` ([[capabilities.dirs]] in its manifest) "
                "or set config `dir`"
            )
        log.log(Level.INFO, f"wrote {path} ({len(contents.encode())} bytes)")
