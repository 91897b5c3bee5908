//! Sealing throughput of the library, for bench/seal.sh:
//! `seal_bench CERT SECRETS KEYS` seals SECRETS Secrets of KEYS random
//! 24-byte values each (strict scope) and renders each as YAML, like
//! kubesealpy's `Sealer.seal(...).to_yaml()` in the same benchmark.
//! Prints one JSON line.

use std::collections::BTreeMap;
use std::time::Instant;

use platctl_secrets::seal::seal;
use platctl_secrets::{Scope, SecretInput};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, cert, secrets, keys] = args.as_slice() else {
        return Err("usage: seal_bench CERT.pem SECRETS KEYS".into());
    };
    let secrets: usize = secrets.parse()?;
    let keys: usize = keys.parse()?;
    let cert = platctl_secrets::cert::load_file(std::path::Path::new(cert))?;
    let mut data = BTreeMap::new();
    for i in 0..keys {
        let mut v = [0u8; 24];
        getrandom::fill(&mut v).map_err(|e| e.to_string())?;
        data.insert(format!("key{i}"), v.to_vec());
    }
    let start = Instant::now();
    let mut bytes = 0usize;
    for i in 0..secrets {
        let input = SecretInput {
            name: format!("s{i}"),
            namespace: Some("bench".into()),
            secret_type: Some("Opaque".into()),
            data: data.clone(),
            ..Default::default()
        };
        bytes += seal(&input, Scope::Strict, &cert)?.to_yaml()?.len();
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "{{\"secrets\": {secrets}, \"keys\": {keys}, \"seconds\": {seconds}, \"secrets_per_second\": {}, \"yaml_bytes\": {bytes}}}",
        secrets as f64 / seconds
    );
    Ok(())
}
