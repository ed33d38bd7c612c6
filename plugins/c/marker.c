// marker-c: the `marker` example plugin in C (clang + wasi-libc, bindings by `wit-bindgen c`).
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
// How WIT looks from C (see the generated hook.h): strings are `hook_string_t` (pointer +
// length, not NUL-terminated); the export is `exports_hooklet_hook_handler_handle`, which
// returns true for `ok` or false after filling `*err` with a malloc'd string (hooklet's
// side frees it). The event belongs to the plugin: free it with
// `exports_hooklet_hook_handler_event_free`. Files go through wasi-libc's stdio, which
// maps absolute paths onto the directories the manifest grants.

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hook.h"

typedef exports_hooklet_hook_handler_event_t event_t;

// Formats like printf into a malloc'd, NUL-terminated string.
static char *format(const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  int len = vsnprintf(NULL, 0, fmt, args);
  va_end(args);
  char *out = malloc((size_t)len + 1);
  va_start(args, fmt);
  vsnprintf(out, (size_t)len + 1, fmt, args);
  va_end(args);
  return out;
}

// A WIT string as a malloc'd C string.
static char *cstr(const hook_string_t *s) {
  return format("%.*s", (int)s->len, (const char *)s->ptr);
}

// The first value of config key `key` as a malloc'd C string, or a copy of `fallback`.
static char *config(const event_t *event, const char *key, const char *fallback) {
  for (size_t i = 0; i < event->config.len; i++) {
    const hook_tuple2_string_string_t *pair = &event->config.ptr[i];
    if (pair->f0.len == strlen(key) && memcmp(pair->f0.ptr, key, pair->f0.len) == 0)
      return cstr(&pair->f1);
  }
  return format("%s", fallback);
}

// `name` as a malloc'd C string with path separators replaced, so it stays one file name.
static char *file_safe(const hook_string_t *name) {
  char *out = cstr(name);
  for (char *p = out; *p; p++)
    if (*p == '/' || *p == '\\') *p = '_';
  return out;
}

static const char *phase_name(exports_hooklet_hook_handler_phase_t phase) {
  return phase == EXPORTS_HOOKLET_HOOK_HANDLER_PHASE_POST_START ? "post-start" : "pre-stop";
}

static void log_line(hooklet_hook_log_level_t level, const char *text) {
  hook_string_t message = {(uint8_t *)text, strlen(text)};
  hooklet_hook_log_log(level, &message);
}

// The marker file's contents: one `key=value` line per field.
static char *describe(const event_t *e, const char *message) {
#define S(field) (int)e->field.len, (const char *)e->field.ptr
  return format("phase=%s\nnamespace=%.*s\npod=%.*s\npod-uid=%.*s\ncontainer=%.*s\n"
                "container-id=%.*s\nimage=%.*s\ndelivery-id=%.*s\nattempt=%u\nmessage=%s\n",
                phase_name(e->phase), S(pod_namespace), S(pod_name), S(pod_uid),
                S(container_name), S(container_id), S(image), S(delivery_id),
                (unsigned)e->attempt, message);
#undef S
}

// Writes the marker file; NULL on success, else a malloc'd reason.
static char *mark(const event_t *event) {
  char *dir = config(event, "dir", "/out");
  size_t dir_len = strlen(dir);
  while (dir_len > 0 && dir[dir_len - 1] == '/') dir_len--;
  char *pod = file_safe(&event->pod_name), *container = file_safe(&event->container_name);
  char *path = format("%.*s/%s_%s.%s", (int)dir_len, dir, pod, container, phase_name(event->phase));
  char *message = config(event, "message", "");
  char *contents = describe(event, message);
  char *failure = NULL;
  FILE *file = fopen(path, "w");
  size_t len = strlen(contents);
  if (file == NULL || fwrite(contents, 1, len, file) != len || fclose(file) != 0) {
    failure = format("marker: cannot write %s: %s; grant the plugin a read-write directory at "
                     "guest path `%s` ([[capabilities.dirs]] in its manifest) or set config `dir`",
                     path, strerror(errno), dir);
  } else {
    char *line = format("wrote %s (%zu bytes)", path, len);
    log_line(HOOKLET_HOOK_LOG_LEVEL_INFO, line);
    free(line);
  }
  free(dir), free(pod), free(container), free(path), free(message), free(contents);
  return failure;
}

bool exports_hooklet_hook_handler_handle(event_t *event, hook_string_t *err) {
  char *fail = config(event, "fail", "");
  char *failure = NULL;
  if (strcmp(fail, "true") == 0) {
    char *line = format("failing %s hook of %.*s/%.*s on purpose", phase_name(event->phase),
                        (int)event->pod_name.len, (const char *)event->pod_name.ptr,
                        (int)event->container_name.len, (const char *)event->container_name.ptr);
    log_line(HOOKLET_HOOK_LOG_LEVEL_ERROR, line);
    free(line);
    failure = format("marker: failing on purpose (config fail=true)");
  } else {
    failure = mark(event);
  }
  free(fail);
  exports_hooklet_hook_handler_event_free(event);
  if (failure == NULL) return true;
  // The error string is handed over: hooklet's side frees it after the call.
  err->ptr = (uint8_t *)failure;
  err->len = strlen(failure);
  return false;
}
