//! `cargo gantry verify --key PUB.pem REF…`: exit 0 when every image has a valid signature by
//! the key; stdout gets each verified `REPO@sha256:…`. Every image is checked even after one
//! fails, and each failure is reported.

use cargo_gantry::registry::ClientOptions;
use cargo_gantry::sign::{self, ReferencePolicy, VerifyingKey};
use cargo_gantry::{Error, Result};

use crate::cli::VerifyArgs;

pub fn run(args: &VerifyArgs) -> Result<()> {
    let refs = super::sign::parse_refs(&args.refs)?;
    let key = VerifyingKey::read(&args.key)?;
    let policy = if args.any_reference {
        ReferencePolicy::Any
    } else {
        ReferencePolicy::MustMatch
    };
    let client = ClientOptions {
        insecure: args.insecure_registries.clone(),
        ..ClientOptions::default()
    };
    let mut failed = Vec::new();
    for image in &refs {
        let checked = sign::verify(image, &key, policy, &client).and_then(|verified| {
            if args.provenance {
                let statement = sign::verify_attestation(image, &key, &client)?;
                eprintln!(
                    "    Verified provenance {} ({})",
                    statement.manifest, statement.predicate_type
                );
            }
            Ok(verified)
        });
        match checked {
            Ok(verified) => {
                eprintln!("    Verified {} ({})", verified.image, key.algorithm());
                println!("{}", verified.image);
            }
            Err(e) => failed.push(e),
        }
    }
    let count = failed.len();
    let Some(last) = failed.pop() else {
        return Ok(());
    };
    if count == 1 {
        return Err(last);
    }
    let failure = failed
        .iter()
        .chain([&last])
        .any(|e| e.kind() == cargo_gantry::error::Kind::Failure);
    for e in failed.iter().chain([&last]) {
        eprintln!("{}\n", e.render());
    }
    let message = format!("{count} of {} images did not verify", refs.len());
    Err(if failure {
        Error::failure(message)
    } else {
        Error::user(message)
    })
}
