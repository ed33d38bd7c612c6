//! `hooklet get … -o json|yaml`: the Kubernetes objects of `/api/v1`, printed as the
//! real kubectl prints them from the same server. One object for a named get; for a
//! list, the items in a `v1` `List` with an empty `resourceVersion` (kubectl flattens
//! what it fetched and re-wraps it so, whatever the server's `PodList` said). JSON as
//! Go's `json.MarshalIndent(obj, "", "    ")` writes it: keys sorted, four spaces,
//! `<`, `>`, `&`, U+2028 and U+2029 escaped. The objects are the server's, taken as
//! `serde_json::Value`s: the CLI keeps no copy of the wire types.

use hyper::Method;
use serde_json::{json, Value};

use super::client::{Client, ClientError};
use super::{ClientArgs, OutputFormat};

/// A resource hooklet's CLI prints as Kubernetes objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Pods,
    Nodes,
    Events,
}

impl Resource {
    fn plural(self) -> &'static str {
        match self {
            Resource::Pods => "pods",
            Resource::Nodes => "nodes",
            Resource::Events => "events",
        }
    }

    /// The `/api/v1` path of the object `name`, or of the list.
    pub fn path(self, args: &ClientArgs, name: Option<&str>) -> String {
        let plural = self.plural();
        let base = match self {
            Resource::Nodes => format!("/api/v1/{plural}"),
            _ if args.all_namespaces && name.is_none() => format!("/api/v1/{plural}"),
            _ => format!("/api/v1/namespaces/{}/{plural}", args.namespace),
        };
        match name {
            Some(name) => format!("{base}/{name}"),
            None => base,
        }
    }
}

/// Fetches `resource` (the object `name`, or the list) and prints it as `format`
/// (`Json` or `Yaml`).
pub async fn print(client: &Client, args: &ClientArgs, resource: Resource, name: Option<&str>, format: OutputFormat) -> Result<(), ClientError> {
    let answer: Value = client.json(Method::GET, &resource.path(args, name), None).await?;
    let object = match name {
        Some(_) => answer,
        None => as_kubectl_list(answer),
    };
    print!("{}", render(&object, format)?);
    Ok(())
}

/// A list answer (`PodList`, `NodeList`, `EventList`) as kubectl prints it.
pub fn as_kubectl_list(mut answer: Value) -> Value {
    let items = answer.get_mut("items").map(Value::take).filter(Value::is_array).unwrap_or_else(|| json!([]));
    json!({"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}})
}

/// The text of `object` in `format` (ending with a newline).
pub fn render(object: &Value, format: OutputFormat) -> Result<String, ClientError> {
    match format {
        OutputFormat::Yaml => serde_norway::to_string(object).map_err(|e| ClientError(format!("error: writing YAML: {e}"))),
        _ => Ok(go_json(object)),
    }
}

/// `object` as Go's `json.MarshalIndent(obj, "", "    ")` writes a decoded object
/// (serde_json's maps are sorted, as Go sorts map keys), with a final newline.
fn go_json(object: &Value) -> String {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    serde::Serialize::serialize(object, &mut serializer).expect("JSON values serialise");
    let text = String::from_utf8(out).expect("serde_json writes UTF-8");
    // These characters only occur inside strings, where Go's encoder escapes them.
    let mut escaped = String::with_capacity(text.len() + 1);
    for c in text.chars() {
        match c {
            '<' => escaped.push_str("\\u003c"),
            '>' => escaped.push_str("\\u003e"),
            '&' => escaped.push_str("\\u0026"),
            '\u{2028}' => escaped.push_str("\\u2028"),
            '\u{2029}' => escaped.push_str("\\u2029"),
            c => escaped.push(c),
        }
    }
    escaped.push('\n');
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_written_as_go_writes_it() {
        let v = json!({"b": {"x": [1, "<none> & more"], "e": {}, "l": []}, "a": null});
        let want = "{\n    \"a\": null,\n    \"b\": {\n        \"e\": {},\n        \"l\": [],\n        \"x\": [\n            1,\n            \"\\u003cnone\\u003e \\u0026 more\"\n        ]\n    }\n}\n";
        assert_eq!(go_json(&v), want);
    }

    #[test]
    fn lists_are_rewrapped_as_kubectl_does() {
        let answer = json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "42"}, "items": [{"kind": "Pod"}]});
        let want = json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": [{"kind": "Pod"}]});
        assert_eq!(as_kubectl_list(answer), want);
        assert_eq!(as_kubectl_list(json!({"kind": "PodList"}))["items"], json!([]));
    }

    #[test]
    fn paths_follow_the_namespace_flags() {
        let args = |all| ClientArgs { namespace: "ns1".into(), all_namespaces: all, server: None, certificate_authority: None, token: None };
        assert_eq!(Resource::Pods.path(&args(false), None), "/api/v1/namespaces/ns1/pods");
        assert_eq!(Resource::Pods.path(&args(true), None), "/api/v1/pods");
        assert_eq!(Resource::Pods.path(&args(true), Some("web")), "/api/v1/namespaces/ns1/pods/web");
        assert_eq!(Resource::Events.path(&args(false), None), "/api/v1/namespaces/ns1/events");
        assert_eq!(Resource::Nodes.path(&args(false), Some("edge1")), "/api/v1/nodes/edge1");
    }
}
