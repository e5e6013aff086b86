//! `cargo gantry sign --key KEY.pem REF…`: stdout gets each signed `REPO@sha256:…`.

use cargo_gantry::Result;
use cargo_gantry::registry::{ClientOptions, ImageRef};
use cargo_gantry::settings::env;
use cargo_gantry::sign::{self, SignOutcome};

use crate::cli::SignArgs;

pub fn run(args: &SignArgs) -> Result<()> {
    // Every reference is checked before the key is read or anything is sent.
    let refs = parse_refs(&args.refs)?;
    let key = sign::signing_key(args.key.as_deref(), std::env::var(env::SIGNING_KEY).ok())?;
    let client = ClientOptions {
        insecure: args.insecure_registries.clone(),
        ..ClientOptions::default()
    };
    for image in &refs {
        let signed = sign::sign(image, &key, &client)?;
        match signed.outcome {
            SignOutcome::Added => eprintln!("      Signed {} ({})", signed.image, key.algorithm()),
            SignOutcome::AlreadySigned => {
                eprintln!("   Unchanged {}: already signed by this key", signed.image)
            }
        }
        println!("{}", signed.image);
    }
    Ok(())
}

/// `REF…` as image references, the first bad one an error.
pub fn parse_refs(refs: &[String]) -> Result<Vec<ImageRef>> {
    refs.iter().map(|r| ImageRef::parse(r)).collect()
}
