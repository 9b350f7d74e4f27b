//! What the peer's test crates share: a chain with registered peers.

use agora_client::{Chain, EmbeddedChain, key_account};
use agora_market::msg::{GraphParams, TEXT};
use agora_peer::PeerKey;

/// A key from one repeated byte.
pub fn key(byte: u8) -> PeerKey {
    PeerKey::from_secret(&[byte; 32]).unwrap()
}

/// A chain where `keys` are registered peers of TEXT.
pub fn chain(keys: &[&PeerKey]) -> EmbeddedChain {
    let mut chain = EmbeddedChain::new(
        "uagora",
        "admin",
        10u128.pow(12),
        GraphParams::builder()
            .emission_per_epoch(1_000)
            .unbonding_period(10)
            .build(),
    )
    .unwrap();
    for (port, key) in keys.iter().enumerate() {
        let name = key_account(&key.public_key());
        chain.fund("admin", &name, 1_000).unwrap();
        chain
            .register(&name, TEXT, &format!("http://127.0.0.1:{}", 9000 + port), 0)
            .unwrap();
    }
    chain
}
