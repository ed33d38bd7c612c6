// marker-go: the `marker` example plugin in Go (Go's own wasip1 port, bindings by
// `wit-bindgen go`).
//
// For each hook delivery it writes `<dir>/<pod>_<container>.<phase>` (for example
// `/out/web_nginx.post-start`) holding one `key=value` line per event field, logs what it
// wrote, and returns. The file's contents are byte-for-byte those of the Rust `marker`.
//
// Config keys (the pod manifest's `wasm.config`):
//
//	dir      guest path of a directory granted read-write in the manifest (default `/out`)
//	message  free text copied into the file (default empty)
//	fail     `true` fails the hook on purpose, without writing anything
//
// How WIT looks from Go: `wit-bindgen go` generates the module `wit_component` with one
// package per interface (hooklet_hook_handler for the event types, hooklet_hook_log for
// logging) and expects the export in package export_hooklet_hook_handler, which is why
// this file has that package name: build.sh places it there. Record fields are exported
// Go fields (`event.PodName`), enums are uint8 constants (`Phase_PostStart`), tuples are
// `witTypes.Tuple2` (F0, F1), options `witTypes.Option`. Return `witTypes.Err` to fail
// the hook. The os package reaches the directories the manifest grants.
package export_hooklet_hook_handler

import (
	"fmt"
	"os"
	"strings"

	witTypes "go.bytecodealliance.org/pkg/wit/types"

	"wit_component/hooklet_hook_handler"
	log "wit_component/hooklet_hook_log"
)

type result = witTypes.Result[witTypes.Unit, string]

// Handle is the plugin's `handler.handle`.
func Handle(event hooklet_hook_handler.Event) result {
	phase := phaseName(event.Phase)
	if config(event, "fail", "") == "true" {
		log.Log(log.Level_Error, fmt.Sprintf("failing %s hook of %s/%s on purpose", phase, event.PodName, event.ContainerName))
		return witTypes.Err[witTypes.Unit]("marker: failing on purpose (config fail=true)")
	}
	dir := config(event, "dir", "/out")
	path := fmt.Sprintf("%s/%s_%s.%s", strings.TrimRight(dir, "/"), fileSafe(event.PodName), fileSafe(event.ContainerName), phase)
	contents := describe(event, phase)
	if err := os.WriteFile(path, []byte(contents), 0o644); err != nil {
		reason := err.Error()
		if pathErr, ok := err.(*os.PathError); ok {
			reason = pathErr.Err.Error() // without the op and path, which the message has
		}
		return witTypes.Err[witTypes.Unit](fmt.Sprintf("marker: cannot write %s: %s; grant the plugin a "+
			"read-write directory at guest path `%s` ([[capabilities.dirs]] in its manifest) or set config `dir`",
			path, reason, dir))
	}
	log.Log(log.Level_Info, fmt.Sprintf("wrote %s (%d bytes)", path, len(contents)))
	return witTypes.Ok[witTypes.Unit, string](witTypes.Unit{})
}

// config is the first value of config key `key`, or `fallback`.
func config(event hooklet_hook_handler.Event, key, fallback string) string {
	for _, pair := range event.Config {
		if pair.F0 == key {
			return pair.F1
		}
	}
	return fallback
}

func phaseName(phase hooklet_hook_handler.Phase) string {
	if phase == hooklet_hook_handler.Phase_PostStart {
		return "post-start"
	}
	return "pre-stop"
}

// fileSafe is `name` with path separators replaced, so it stays one file name.
func fileSafe(name string) string {
	return strings.NewReplacer("/", "_", `\`, "_").Replace(name)
}

// describe is the marker file's contents: one `key=value` line per field.
func describe(e hooklet_hook_handler.Event, phase string) string {
	fields := [][2]string{
		{"phase", phase},
		{"namespace", e.PodNamespace},
		{"pod", e.PodName},
		{"pod-uid", e.PodUid},
		{"container", e.ContainerName},
		{"container-id", e.ContainerId},
		{"image", e.Image},
		{"delivery-id", e.DeliveryId},
		{"attempt", fmt.Sprint(e.Attempt)},
		{"message", config(e, "message", "")},
	}
	var b strings.Builder
	for _, f := range fields {
		fmt.Fprintf(&b, "%s=%s\n", f[0], f[1])
	}
	return b.String()
}
