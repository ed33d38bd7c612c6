//! The kubectl-shaped client commands: apply, get, describe, delete, logs, events,
//! plugin list. Each prints what kubectl would and returns an exit code.

use std::io::Write;

use http_body_util::BodyExt;
use hyper::Method;

use super::client::{Client, ClientError};
use super::describe::describe_pod;
use super::describe_node::{describe_node, node_row, NODE_HEADER};
use super::format::{age, table};
use super::objects::{self, Resource};
use super::pod_row::pod_row;
use super::{ClientArgs, ClientCommand, OutputFormat};
use crate::api::types::{ApplyRequest, ApplyResponse, EventList, HookRunList, NodeList, PluginList, PodList, PodView};
use crate::nodestatus::NodeView;
use crate::events::Event;

/// Runs a client command; returns the process exit code (0 ok, 1 error, 2 bad input).
pub async fn run_client(args: ClientArgs, command: ClientCommand) -> i32 {
    let client = match Client::new(args.server.as_deref(), args.token.clone()) {
        Ok(c) => c.with_ca(args.certificate_authority.clone()),
        Err(err) => return fail(&err),
    };
    let result = async {
        match command {
            ClientCommand::Apply { file } => apply(&client, &file).await,
            ClientCommand::Get { resource, name, output } => {
                let kind = check_resource(&resource).map_err(ClientError)?;
                let name = name.as_deref();
                match (objects_of(kind), output) {
                    (Some(resource), Some(format @ (OutputFormat::Json | OutputFormat::Yaml))) => {
                        objects::print(&client, &args, resource, name, format).await
                    }
                    _ => match kind {
                        Kind::Pod => get_pods(&client, &args, name, output == Some(OutputFormat::Wide)).await,
                        Kind::Node => get_nodes(&client, name).await,
                        Kind::Event => get_events(&client, &args, name).await,
                        Kind::Secret => super::secret::get(&client, &args, name, output).await,
                    },
                }
            }
            ClientCommand::Describe { resource, name } => match check_resource(&resource).map_err(ClientError)? {
                Kind::Event => Err(ClientError("error: hooklet describes pods, secrets and its node; `hooklet get events` lists events".into())),
                Kind::Pod => describe(&client, &args, &name).await,
                Kind::Secret => super::secret::describe(&client, &args, &name).await,
                Kind::Node => {
                    let view: NodeView = client.json(Method::GET, &format!("/v1/nodes/{name}"), None).await?;
                    print!("{}", describe_node(&view));
                    Ok(())
                }
            },
            ClientCommand::Delete { resource, name, grace_period, wait } => match check_resource(&resource).map_err(ClientError)? {
                Kind::Node => Err(ClientError("error: hooklet does not delete its node".into())),
                Kind::Event => Err(ClientError("error: hooklet does not delete events".into())),
                Kind::Secret => super::secret::delete(&client, &args, &name).await,
                Kind::Pod => delete(&client, &args, &name, grace_period, wait).await,
            },
            ClientCommand::Logs { pod, container, hooks, log } => logs(&client, &args, &pod, container.as_deref(), hooks, &log).await,
            ClientCommand::Events { watch } => events(&client, &args, watch).await,
            ClientCommand::PluginList => plugins(&client).await,
            ClientCommand::RotateToken => rotate_token(&client).await,
        }
    };
    match result.await {
        Ok(()) => 0,
        Err(err) => fail(&err),
    }
}

/// A table with a header row.
fn grid(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut all = vec![header.iter().map(|h| h.to_string()).collect()];
    all.extend(rows);
    table(&all, "")
}

fn fail(err: &ClientError) -> i32 {
    eprintln!("{err}");
    1
}

/// The resource types hooklet serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pod,
    Node,
    Secret,
    Event,
}

/// The Kubernetes resource `-o json|yaml` prints for `kind` (Secrets are not served
/// on `/api/v1`: theirs is hooklet's own view, which holds no values).
fn objects_of(kind: Kind) -> Option<Resource> {
    match kind {
        Kind::Pod => Some(Resource::Pods),
        Kind::Node => Some(Resource::Nodes),
        Kind::Event => Some(Resource::Events),
        Kind::Secret => None,
    }
}

fn check_resource(resource: &str) -> Result<Kind, String> {
    match resource {
        "pod" | "pods" | "po" => Ok(Kind::Pod),
        "node" | "nodes" | "no" => Ok(Kind::Node),
        "secret" | "secrets" => Ok(Kind::Secret),
        "event" | "events" | "ev" => Ok(Kind::Event),
        other => Err(format!("error: the server doesn't have a resource type {other:?}: hooklet serves pods, secrets, events and its node (`hooklet get pods`, `hooklet get secrets`, `hooklet get events`, `hooklet get nodes`)")),
    }
}

async fn get_nodes(client: &Client, name: Option<&str>) -> Result<(), ClientError> {
    let items = match name {
        Some(n) => vec![client.json::<NodeView>(Method::GET, &format!("/v1/nodes/{n}"), None).await?],
        None => client.json::<NodeList>(Method::GET, "/v1/nodes", None).await?.items,
    };
    print!("{}", grid(&NODE_HEADER, items.iter().map(node_row).collect()));
    Ok(())
}

/// `get events` as a table: what `hooklet events` prints (no single event by name).
async fn get_events(client: &Client, args: &ClientArgs, name: Option<&str>) -> Result<(), ClientError> {
    match name {
        Some(_) => Err(ClientError("error: `hooklet get events` lists events; name one with -o json or -o yaml".into())),
        None => events(client, args, false).await,
    }
}

fn pod_path(args: &ClientArgs, name: &str) -> String {
    format!("/v1/namespaces/{}/pods/{name}", args.namespace)
}

async fn apply(client: &Client, file: &str) -> Result<(), ClientError> {
    let (manifest, filename) = if file == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|e| ClientError(format!("error: reading stdin: {e}")))?;
        (text, "<stdin>".to_string())
    } else {
        let text = std::fs::read_to_string(file).map_err(|e| ClientError(format!("error: cannot read {file}: {e}")))?;
        (text, file.to_string())
    };
    let body = serde_json::to_vec(&ApplyRequest { manifest, filename: Some(filename) }).expect("serialises");
    let response: ApplyResponse = client.json(Method::POST, "/v1/pods", Some(body)).await?;
    for w in &response.warnings {
        eprintln!("Warning: {w}");
    }
    for s in &response.secrets {
        println!("secret/{} {}", s.name, s.result);
    }
    for p in &response.pods {
        println!("pod/{} {}", p.name, p.result);
    }
    Ok(())
}

/// `get pods [NAME] [-o wide]`: kubectl's table, from hooklet's own views.
async fn get_pods(client: &Client, args: &ClientArgs, name: Option<&str>, wide: bool) -> Result<(), ClientError> {
    let items = match name {
        Some(name) => vec![client.json::<PodView>(Method::GET, &pod_path(args, name), None).await?],
        None if args.all_namespaces => client.json::<PodList>(Method::GET, "/v1/pods", None).await?.items,
        None => client.json::<PodList>(Method::GET, &format!("/v1/pods?namespace={}", args.namespace), None).await?.items,
    };
    if items.is_empty() {
        eprintln!("No resources found in {} namespace.", if args.all_namespaces { "any" } else { &args.namespace });
        return Ok(());
    }
    let mut header = vec!["NAME", "READY", "STATUS", "RESTARTS", "AGE"];
    if args.all_namespaces {
        header.insert(0, "NAMESPACE");
    }
    if wide {
        header.extend(["IP", "UID"]);
    }
    let rows: Vec<Vec<String>> = items.iter().map(|v| pod_row(v, args.all_namespaces, wide)).collect();
    print!("{}", grid(&header, rows));
    Ok(())
}

async fn describe(client: &Client, args: &ClientArgs, name: &str) -> Result<(), ClientError> {
    let view: PodView = client.json(Method::GET, &pod_path(args, name), None).await?;
    print!("{}", describe_pod(&view.pod, &view.status, &view.events));
    Ok(())
}

async fn delete(client: &Client, args: &ClientArgs, name: &str, grace: Option<i64>, wait: bool) -> Result<(), ClientError> {
    let mut path = pod_path(args, name);
    if let Some(g) = grace {
        path.push_str(&format!("?gracePeriodSeconds={g}"));
    }
    client.bytes(Method::DELETE, &path, None).await?;
    if wait {
        // Poll until the pod is gone (kubectl's --wait does the same with a watch).
        loop {
            match client.bytes(Method::GET, &pod_path(args, name), None).await {
                Err(err) if err.0.contains("(NotFound)") => break,
                Err(err) => return Err(err),
                Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
            }
        }
    }
    println!("pod \"{name}\" deleted");
    Ok(())
}

async fn logs(client: &Client, args: &ClientArgs, pod: &str, container: Option<&str>, hooks: bool, log: &super::LogFlags) -> Result<(), ClientError> {
    let query = container.map(|c| format!("?container={c}")).unwrap_or_default();
    if !hooks {
        let mut params: Vec<String> = container.map(|c| format!("container={c}")).into_iter().collect();
        if log.timestamps {
            params.push("timestamps=true".into());
        }
        if log.tail >= 0 {
            params.push(format!("tailLines={}", log.tail));
        }
        params.push(format!("stream={}", log.stream));
        for (on, param) in [(log.follow, "follow=true"), (log.previous, "previous=true")] {
            if on {
                params.push(param.into());
            }
        }
        if let Some(since) = log.since {
            // Whole seconds, as the API takes them; at least 1.
            params.push(format!("sinceSeconds={}", since.as_secs_f64().ceil().max(1.0) as u64));
        }
        let response = client.send(Method::GET, &format!("{}/log?{}", pod_path(args, pod), params.join("&")), None).await?;
        let mut body = response.into_body();
        let mut stdout = std::io::stdout();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| ClientError(format!("the log stream broke off: {e}")))?;
            if let Some(data) = frame.data_ref() {
                let _ = stdout.write_all(data).and_then(|_| stdout.flush());
            }
        }
        return Ok(());
    }
    let list: HookRunList = client.json(Method::GET, &format!("{}/hooks{query}", pod_path(args, pod)), None).await?;
    for v in &list.items {
        let r = &v.run;
        let ms = r.duration.as_millis();
        println!(
            "=== {} {} {} {} ({}ms) container={} delivery={} attempt={}",
            r.phase.as_str(), r.kind.as_str(), r.detail, r.outcome.summary(), ms, v.container, r.delivery.id, r.delivery.attempt
        );
        if let Some(f) = r.outcome.failure() {
            println!("error: {f}");
        }
        if !r.output.is_empty() {
            println!("{}", r.output.trim_end());
        }
    }
    Ok(())
}

async fn events(client: &Client, args: &ClientArgs, watch: bool) -> Result<(), ClientError> {
    let ns = if args.all_namespaces { String::new() } else { format!("namespace={}", args.namespace) };
    let header = ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"];
    if !watch {
        let list: EventList = client.json(Method::GET, &format!("/v1/events?{ns}"), None).await?;
        if list.items.is_empty() {
            eprintln!("No events found in {} namespace.", args.namespace);
            return Ok(());
        }
        let rows: Vec<Vec<String>> = list.items.iter().map(event_row).collect();
        print!("{}", grid(&header, rows));
        return Ok(());
    }
    let response = client.send(Method::GET, &format!("/v1/events?{ns}&watch=true"), None).await?;
    let mut body = response.into_body();
    let mut pending = Vec::new();
    println!("{}", header.join("   "));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ClientError(format!("the event stream broke: {e}")))?;
        let Some(data) = frame.data_ref() else { continue };
        pending.extend_from_slice(data);
        while let Some(pos) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=pos).collect();
            if let Ok(e) = serde_json::from_slice::<Event>(&line) {
                println!("{}", event_row(&e).join("   "));
                let _ = std::io::stdout().flush();
            }
        }
    }
    Ok(())
}

fn event_row(e: &Event) -> Vec<String> {
    let object = e.object.display_name();
    let seen = if e.count > 1 { format!("{} (x{})", age(e.last_seen), e.count) } else { age(e.last_seen) };
    vec![seen, e.event_type.to_string(), e.reason.clone(), object, e.message.clone()]
}

async fn rotate_token(client: &Client) -> Result<(), ClientError> {
    let rotated: serde_json::Value = client.json(Method::POST, crate::api::ROTATE_PATH, None).await?;
    let file = rotated["tokenFile"].as_str().unwrap_or("the token file");
    println!("rotated the API token: the new one is in {file} and in the kubeconfig (`hooklet kubeconfig`); the old one is refused from now on");
    Ok(())
}

async fn plugins(client: &Client) -> Result<(), ClientError> {
    let list: PluginList = client.json(Method::GET, "/v1/plugins", None).await?;
    match super::plugin::print_plugins(&list.plugin_dir, &list.items) {
        0 => Ok(()),
        _ => Err(ClientError("a plugin has a problem (see STATUS above)".into())),
    }
}
