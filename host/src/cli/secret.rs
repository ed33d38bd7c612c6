//! `hooklet get secrets`, `describe secret`, `delete secret`: what kubectl prints,
//! from the API's views, which never hold a secret's values.

use hyper::Method;

use super::client::{Client, ClientError};
use super::format::{age, table};
use super::{ClientArgs, OutputFormat};
use crate::api::types::{SecretList, SecretView};

fn path(args: &ClientArgs, name: &str) -> String {
    format!("/v1/namespaces/{}/secrets/{name}", args.namespace)
}

/// `get secrets [NAME] [-o json|yaml]`: NAME TYPE DATA AGE.
pub async fn get(client: &Client, args: &ClientArgs, name: Option<&str>, output: Option<OutputFormat>) -> Result<(), ClientError> {
    let items = match name {
        Some(name) => vec![client.json::<SecretView>(Method::GET, &path(args, name), None).await?],
        None if args.all_namespaces => client.json::<SecretList>(Method::GET, "/v1/secrets", None).await?.items,
        None => client.json::<SecretList>(Method::GET, &format!("/v1/secrets?namespace={}", args.namespace), None).await?.items,
    };
    let one = name.is_some();
    match output {
        Some(OutputFormat::Json) => {
            let text = if one { serde_json::to_string_pretty(&items[0]) } else { serde_json::to_string_pretty(&SecretList { items }) };
            println!("{}", text.expect("serialises"));
        }
        Some(OutputFormat::Yaml) => {
            let text = if one { serde_norway::to_string(&items[0]) } else { serde_norway::to_string(&items) };
            print!("{}", text.map_err(|e| ClientError(e.to_string()))?);
        }
        _ => {
            if items.is_empty() {
                eprintln!("No resources found in {} namespace.", if args.all_namespaces { "any" } else { &args.namespace });
                return Ok(());
            }
            let mut header = vec!["NAME", "TYPE", "DATA", "AGE"];
            if args.all_namespaces {
                header.insert(0, "NAMESPACE");
            }
            let mut rows = vec![header.iter().map(|h| h.to_string()).collect::<Vec<_>>()];
            for s in &items {
                let mut row = vec![s.name.clone(), s.secret_type.clone(), s.data_sizes.len().to_string(), age(s.created_at)];
                if args.all_namespaces {
                    row.insert(0, s.namespace.clone());
                }
                rows.push(row);
            }
            print!("{}", table(&rows, ""));
        }
    }
    Ok(())
}

/// `describe secret NAME`: kubectl's layout, each key with its size.
pub async fn describe(client: &Client, args: &ClientArgs, name: &str) -> Result<(), ClientError> {
    let s: SecretView = client.json(Method::GET, &path(args, name), None).await?;
    let labels = if s.labels.is_empty() {
        "<none>".to_string()
    } else {
        s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("\n              ")
    };
    print!("Name:         {}\nNamespace:    {}\nLabels:       {labels}\nAnnotations:  <none>\n\nType:  {}\n\nData\n====\n", s.name, s.namespace, s.secret_type);
    for (key, size) in &s.data_sizes {
        println!("{key}:  {size} bytes");
    }
    Ok(())
}

/// `delete secret NAME`.
pub async fn delete(client: &Client, args: &ClientArgs, name: &str) -> Result<(), ClientError> {
    client.bytes(Method::DELETE, &path(args, name), None).await?;
    println!("secret \"{name}\" deleted");
    Ok(())
}
