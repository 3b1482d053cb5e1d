//! Seal/open of a 100-byte secret with the Vault's AES-256-GCM keyring.
//! `cargo bench --bench vault`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use secrecy::SecretString;
use uuid::Uuid;
use vieagent::vault::{CredentialAad, Keyring, MasterKey};

fn bench_vault(c: &mut Criterion) {
    let key = MasterKey::generate().expect("key");
    let ring = Keyring::new(1, &key);
    let aad = CredentialAad {
        credential_id: Uuid::new_v4(),
        user_id: Uuid::new_v4(),
        provider: "openai",
        key_name: "default",
    };
    let secret = SecretString::from("s".repeat(100));
    let sealed = ring.seal(&aad, &secret).expect("seal");

    let mut group = c.benchmark_group("vault_100_byte_secret");
    group.throughput(Throughput::Elements(1));
    group.bench_function("seal", |b| {
        b.iter(|| ring.seal(std::hint::black_box(&aad), std::hint::black_box(&secret)))
    });
    group.bench_function("open", |b| {
        b.iter(|| ring.open(std::hint::black_box(&aad), std::hint::black_box(&sealed)))
    });
    group.finish();
}

criterion_group!(benches, bench_vault);
criterion_main!(benches);
