//! marker-zig: the `marker` example plugin in Zig, on the C bindings `wit-bindgen c`
//! generates (hook.h, hook.c), which build.sh compiles alongside.
//!
//! For each hook delivery it writes `<dir>/<pod>_<container>.<phase>` (for example
//! `/out/web_nginx.post-start`) holding one `key=value` line per event field, logs what it
//! wrote, and returns. The file's contents are byte-for-byte those of the Rust `marker`.
//!
//! Config keys (the pod manifest's `wasm.config`):
//!   dir      guest path of a directory granted read-write in the manifest (default `/out`)
//!   message  free text copied into the file (default empty)
//!   fail     `true` fails the hook on purpose, without writing anything
//!
//! How WIT looks from Zig: the C types of hook.h through `@cImport`. A WIT string is a
//! `hook_string_t` (pointer + length), turned into a slice with `str`. The export is the C
//! function `exports_hooklet_hook_handler_handle`: return true for `ok`, or false with
//! `err` set to a string allocated with malloc (`std.heap.raw_c_allocator`), which the bindings
//! free after the call. The event belongs to the plugin: free it with
//! `exports_hooklet_hook_handler_event_free`. Files go through wasi-libc, which maps
//! absolute paths onto the directories the manifest grants.

const std = @import("std");
const c = @cImport({
    @cInclude("hook.h");
    @cInclude("stdio.h");
    @cInclude("string.h");
    @cInclude("errno.h");
});

const Event = c.exports_hooklet_hook_handler_event_t;
/// malloc and free themselves: the error string is freed by the bindings with `free`.
/// (`c_allocator` may over-allocate and hand out a pointer that malloc did not return.)
const gpa = std.heap.raw_c_allocator;

/// A WIT string as a Zig slice (borrowed from the event).
fn str(s: c.hook_string_t) []const u8 {
    if (s.len == 0) return "";
    return s.ptr[0..s.len];
}

/// The first value of config key `key`, or `fallback`.
fn config(event: *const Event, key: []const u8, fallback: []const u8) []const u8 {
    const pairs = event.config.ptr[0..event.config.len];
    for (pairs) |pair| {
        if (std.mem.eql(u8, str(pair.f0), key)) return str(pair.f1);
    }
    return fallback;
}

fn phaseName(event: *const Event) []const u8 {
    return if (event.phase == c.EXPORTS_HOOKLET_HOOK_HANDLER_PHASE_POST_START) "post-start" else "pre-stop";
}

fn log(level: c.hooklet_hook_log_level_t, text: []const u8) void {
    var message = c.hook_string_t{ .ptr = @constCast(text.ptr), .len = text.len };
    c.hooklet_hook_log_log(level, &message);
}

/// `name` with path separators replaced, so it stays one file name.
fn fileSafe(name: []const u8) ![]u8 {
    const out = try gpa.dupe(u8, name);
    for (out) |*ch| {
        if (ch.* == '/' or ch.* == '\\') ch.* = '_';
    }
    return out;
}

/// The marker file's contents: one `key=value` line per field.
fn describe(e: *const Event) ![]u8 {
    const format = "phase={s}\nnamespace={s}\npod={s}\npod-uid={s}\ncontainer={s}\n" ++
        "container-id={s}\nimage={s}\ndelivery-id={s}\nattempt={d}\nmessage={s}\n";
    return std.fmt.allocPrint(gpa, format, .{
        phaseName(e),
        str(e.pod_namespace),
        str(e.pod_name),
        str(e.pod_uid),
        str(e.container_name),
        str(e.container_id),
        str(e.image),
        str(e.delivery_id),
        e.attempt,
        config(e, "message", ""),
    });
}

/// Writes the marker file; null on success, else the failure reason.
fn mark(event: *const Event) !?[]u8 {
    const dir = config(event, "dir", "/out");
    const pod = try fileSafe(str(event.pod_name));
    defer gpa.free(pod);
    const container = try fileSafe(str(event.container_name));
    defer gpa.free(container);
    const path = try std.fmt.allocPrintSentinel(gpa, "{s}/{s}_{s}.{s}", .{
        std.mem.trimRight(u8, dir, "/"), pod, container, phaseName(event),
    }, 0);
    defer gpa.free(path);
    const contents = try describe(event);
    defer gpa.free(contents);

    const file = c.fopen(path.ptr, "w");
    const ok = file != null and c.fwrite(contents.ptr, 1, contents.len, file) == contents.len;
    if (file == null or c.fclose(file) != 0 or !ok) {
        return try std.fmt.allocPrint(gpa, "marker: cannot write {s}: {s}; grant the plugin a " ++
            "read-write directory at guest path `{s}` ([[capabilities.dirs]] in its manifest) " ++
            "or set config `dir`", .{ path, std.mem.span(c.strerror(c.errno)), dir });
    }
    const line = try std.fmt.allocPrint(gpa, "wrote {s} ({d} bytes)", .{ path, contents.len });
    defer gpa.free(line);
    log(c.HOOKLET_HOOK_LOG_LEVEL_INFO, line);
    return null;
}

/// The hook: `fail=true` fails on purpose; otherwise writes the marker file.
fn handle(event: *const Event) !?[]u8 {
    if (std.mem.eql(u8, config(event, "fail", ""), "true")) {
        const line = try std.fmt.allocPrint(gpa, "failing {s} hook of {s}/{s} on purpose", .{
            phaseName(event), str(event.pod_name), str(event.container_name),
        });
        defer gpa.free(line);
        log(c.HOOKLET_HOOK_LOG_LEVEL_ERROR, line);
        return try gpa.dupe(u8, "marker: failing on purpose (config fail=true)");
    }
    return mark(event);
}

export fn exports_hooklet_hook_handler_handle(event: *Event, err: *c.hook_string_t) bool {
    defer c.exports_hooklet_hook_handler_event_free(event);
    const failure = handle(event) catch |e| @as(?[]u8, gpa.dupe(u8, @errorName(e)) catch @panic("out of memory"));
    const reason = failure orelse return true;
    // Handed over: the bindings free it (with free) once hooklet has read it.
    err.* = .{ .ptr = reason.ptr, .len = reason.len };
    return false;
}
