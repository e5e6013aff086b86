//! Driver for `bench/registry-push.sh`: make a test image as an OCI layout, or push one and
//! print the seconds it took.
//!
//! ```text
//! bench_push make DIR MEGABYTES LAYERS     random (incompressible) layers, tagged `bench`
//! bench_push push DIR REGISTRY/REPO:TAG [--progress]    push the layout's `bench` image, print seconds
//! ```

use std::path::Path;
use std::time::Instant;

use cargo_gantry::oci::{Image, LayerBuilder, Platform, layout};
use cargo_gantry::registry::{self, ClientOptions, ImageRef, ProgressMode, PushOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["make", dir, megabytes, layers] => {
            make(Path::new(dir), megabytes.parse()?, layers.parse()?)
        }
        ["push", dir, target] => push(Path::new(dir), target, ProgressMode::Quiet),
        ["push", dir, target, "--progress"] => push(Path::new(dir), target, ProgressMode::Auto),
        _ => Err("usage: bench_push make DIR MEGABYTES LAYERS | push DIR REGISTRY/REPO:TAG".into()),
    }
}

fn make(dir: &Path, megabytes: usize, layers: usize) -> Result<(), Box<dyn std::error::Error>> {
    let mut image = Image::new(&Platform::linux_amd64());
    let per_layer = megabytes * (1 << 20) / layers;
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..layers {
        // xorshift64: random bytes, so gzip cannot make the layer smaller than the benchmark says.
        let bytes: Vec<u8> = (0..per_layer / 8)
            .flat_map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x.to_le_bytes()
            })
            .collect();
        let mut layer = LayerBuilder::new(0);
        layer.file(&format!("/data/{i}.bin"), 0o644, bytes);
        image.push_layer(layer.finish()?, &format!("layer {i}"));
    }
    let rendered = layout::write(dir, &image, "bench").map_err(|e| e.render())?;
    println!("{}", rendered.manifest_digest);
    Ok(())
}

fn push(
    dir: &Path,
    target: &str,
    progress: ProgressMode,
) -> Result<(), Box<dyn std::error::Error>> {
    let image =
        layout::read(dir, Some("bench"), &Platform::linux_amd64()).map_err(|e| e.render())?;
    let target = ImageRef::parse(target).map_err(|e| e.render())?;
    let options = PushOptions {
        client: ClientOptions {
            progress,
            ..ClientOptions::default()
        },
        ..PushOptions::default()
    };
    let start = Instant::now();
    let report = registry::push(&image, &target, &options).map_err(|e| e.render())?;
    let seconds = start.elapsed().as_secs_f64();
    eprintln!("{}", report.reference);
    println!("{seconds:.3}");
    Ok(())
}
