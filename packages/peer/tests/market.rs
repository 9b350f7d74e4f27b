//! The intelligence market on one machine: honest peers of different
//! quality, a lazy peer and a noisy peer serve over loopback HTTP; the
//! honest ones learn through each other with sparse gating, value each
//! neighbour by leave-one-out, and set weights on the embedded chain.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use agora_client::{Chain, EmbeddedChain, key_account};
use agora_market::msg::{GraphParams, TEXT};
use agora_peer::axon::router;
use agora_peer::corpus::{Corpus, DEFAULT_DIR};
use agora_peer::local::{LocalModel, Shape, batch};
use agora_peer::quality::probe_loss;
use agora_peer::weights::RowRules;
use agora_peer::{AxonConfig, Model, Neighbour, PeerKey, Registry, Validator};

const SHAPE: Shape = Shape {
    context: 8,
    embed: 16,
    hidden: 64,
    dim: 16,
};
const STAKE: u128 = 1_000_000_000;

/// Random vectors: serves nothing it learned.
struct Lazy {
    state: Mutex<u64>,
}

impl Model for Lazy {
    fn context(&self) -> usize {
        SHAPE.context
    }
    fn dim(&self) -> usize {
        SHAPE.dim
    }
    fn forward(&self, inputs: &[Vec<u8>]) -> Vec<Vec<f32>> {
        let mut state = self.state.lock().unwrap();
        inputs
            .iter()
            .map(|_| {
                (0..SHAPE.dim)
                    .map(|_| {
                        *state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                        ((*state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
                    })
                    .collect()
            })
            .collect()
    }
}

/// A good model drowned in noise.
struct Noisy {
    inner: LocalModel,
    noise: Lazy,
}

impl Model for Noisy {
    fn context(&self) -> usize {
        SHAPE.context
    }
    fn dim(&self) -> usize {
        SHAPE.dim
    }
    fn forward(&self, inputs: &[Vec<u8>]) -> Vec<Vec<f32>> {
        let clean = self.inner.forward(inputs);
        let noise = self.noise.forward(inputs);
        clean
            .iter()
            .zip(noise)
            .map(|(c, n)| c.iter().zip(n).map(|(c, n)| c + 3.0 * n).collect())
            .collect()
    }
}

fn spearman(a: &[f64], b: &[f64]) -> f64 {
    fn ranks(values: &[f64]) -> Vec<f64> {
        let mut order: Vec<usize> = (0..values.len()).collect();
        order.sort_by(|x, y| values[*x].total_cmp(&values[*y]));
        let mut ranks = vec![0.0; values.len()];
        let mut i = 0;
        while i < order.len() {
            let mut j = i;
            while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
                j += 1;
            }
            for k in i..=j {
                ranks[order[k]] = (i + j) as f64 / 2.0;
            }
            i = j + 1;
        }
        ranks
    }
    let (ra, rb) = (ranks(a), ranks(b));
    let n = a.len() as f64;
    let mean = (n - 1.0) / 2.0;
    let cov: f64 = ra
        .iter()
        .zip(&rb)
        .map(|(x, y)| (x - mean) * (y - mean))
        .sum();
    let var_a: f64 = ra.iter().map(|x| (x - mean).powi(2)).sum();
    let var_b: f64 = rb.iter().map(|y| (y - mean).powi(2)).sum();
    cov / (var_a * var_b).sqrt()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn useful_peers_earn_and_lazy_and_noisy_ones_do_not() {
    let started = Instant::now();
    let corpus = Corpus::load(Path::new(DEFAULT_DIR)).unwrap();
    // Honest peers differ in how much they trained: quality 0 > 1 > 2 > 3.
    let steps = [2000, 600, 200, 20];
    let mut honest = Vec::new();
    for (index, steps) in steps.iter().enumerate() {
        let mut model = LocalModel::new(SHAPE, index as u64 + 1).unwrap();
        model
            .train(corpus.shard(index, 4), *steps, 64, 100 * index as u64)
            .unwrap();
        honest.push(Arc::new(model));
    }
    let mut noisy_inner = LocalModel::new(SHAPE, 9).unwrap();
    noisy_inner
        .train(corpus.shard(0, 4), 1500, 64, 900)
        .unwrap();
    let models: Vec<Arc<dyn Model>> = honest
        .iter()
        .map(|m| Arc::clone(m) as Arc<dyn Model>)
        .chain([
            Arc::new(Lazy {
                state: Mutex::new(1),
            }) as Arc<dyn Model>,
            Arc::new(Noisy {
                inner: noisy_inner,
                noise: Lazy {
                    state: Mutex::new(2),
                },
            }) as Arc<dyn Model>,
        ])
        .collect();
    let roles = [
        "honest-0", "honest-1", "honest-2", "honest-3", "lazy", "noisy",
    ];
    let keys: Vec<PeerKey> = (0..models.len())
        .map(|i| PeerKey::from_secret(&[i as u8 + 1; 32]).unwrap())
        .collect();

    // The chain: every peer registers; the honest ones stake and validate.
    let mut params = GraphParams::new(1_000_000, 0, 10);
    params.epoch_length = 10;
    params.peg_ceiling = 1;
    let mut chain = EmbeddedChain::new("uagora", "admin", 10u128.pow(15), params).unwrap();
    chain.fund_rewards("admin", TEXT, 10u128.pow(12)).unwrap();
    let mut endpoints = Vec::new();
    let registry = Registry::new(&chain);
    for (uid, (key, model)) in keys.iter().zip(&models).enumerate() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let app = router(Arc::clone(model), registry.clone(), AxonConfig::new(TEXT));
        tokio::spawn(async move { axum::serve(listener, app).await });
        let name = key_account(&key.public_key());
        chain.fund("admin", &name, 2 * STAKE).unwrap();
        assert_eq!(
            chain.register(&name, TEXT, &endpoint, 0).unwrap() as usize,
            uid
        );
        endpoints.push(endpoint);
    }
    registry.refresh(&chain, TEXT).unwrap();
    chain.advance(1);
    for key in &keys[..honest.len()] {
        chain
            .stake(&key_account(&key.public_key()), TEXT, STAKE)
            .unwrap();
    }

    // Each honest peer learns through the other five.
    let mut validators: Vec<Validator> = honest
        .iter()
        .enumerate()
        .map(|(v, local)| {
            let neighbours = (0..models.len())
                .filter(|uid| *uid != v)
                .map(|uid| Neighbour {
                    uid: uid as u16,
                    endpoint: endpoints[uid].clone(),
                })
                .collect();
            let deadline = std::time::Duration::from_secs(5);
            Validator::new(
                v as u16,
                Arc::clone(local),
                keys[v].clone(),
                neighbours,
                2,
                deadline,
            )
            .unwrap()
        })
        .collect();
    let mut alone_vs_gated = Vec::new();
    // The weakest peer keeps (inputs, mixture) pairs to distil later.
    let mut pairs = Vec::new();
    let mut last_paid = Vec::new();
    for epoch in 0..3u64 {
        for (v, validator) in validators.iter_mut().enumerate() {
            let keep = (v == 3 && epoch == 2).then_some(&mut pairs);
            validator
                .learn(corpus.shard(v, 4), 60, epoch * 1000, keep)
                .await
                .unwrap();
            let assessment = validator
                .assess(&corpus.held_out, 77 + epoch)
                .await
                .unwrap();
            if epoch == 2 {
                alone_vs_gated.push((assessment.alone_loss, assessment.gated_loss));
            }
            let rules = RowRules {
                own_uid: v as u16,
                peers: models.len() as u16,
                min_entries: 1,
                max_entries: 64,
                max_weight: 1.0,
            };
            let row = validator.row(&assessment, &rules);
            chain
                .set_weights(&key_account(&keys[v].public_key()), TEXT, &row)
                .unwrap();
        }
        chain.advance_to_due(TEXT).unwrap();
        chain.epoch("admin", TEXT, None).unwrap();
        last_paid = chain.metagraph(TEXT).unwrap();
    }

    // Distillation (§8): a student of the weakest peer learns the mixture
    // and then answers without calling anyone.
    let mut student = LocalModel::new(SHAPE, 42).unwrap();
    let distil_error = student.distill(&pairs, 20).unwrap();
    let (contexts, next) = batch(&corpus.held_out, SHAPE.context, 256, 999);
    let weakest = &honest[3];
    let own = weakest.forward(&contexts);
    let alone = weakest
        .loss(&contexts, &next)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    let distilled = validators[3]
        .router()
        .loss_with(&own, &student.forward(&contexts), &next)
        .unwrap();
    eprintln!(
        "weakest peer, held-out: alone {alone:.4}, through neighbours {:.4}, distilled {distilled:.4} (student mse {distil_error:.4})",
        alone_vs_gated[3].1
    );
    assert!(distilled < alone, "distilled {distilled} vs alone {alone}");

    let total: u128 = last_paid.iter().map(|p| p.last_paid.u128()).sum();
    let idle: u128 = last_paid[4].last_paid.u128() + last_paid[5].last_paid.u128();
    let share = idle as f64 / total as f64;
    let quality: Vec<f64> = models
        .iter()
        .map(|m| {
            -f64::from(probe_loss(m.as_ref(), corpus.shard(0, 4), &corpus.held_out, 150).unwrap())
        })
        .collect();
    let incentive: Vec<f64> = last_paid
        .iter()
        .map(|p| p.incentive.0.to_string().parse::<f64>().unwrap())
        .collect();
    let rho = spearman(&incentive, &quality);
    eprintln!(
        "{:<9} {:>10} {:>10} {:>8}",
        "peer", "probe", "incentive", "paid"
    );
    for (i, role) in roles.iter().enumerate() {
        eprintln!(
            "{:<9} {:>10.4} {:>10.4} {:>8}",
            role, -quality[i], incentive[i], last_paid[i].last_paid
        );
    }
    eprintln!(
        "lazy + noisy share of emission: {share:.4}; Spearman(incentive, quality) = {rho:.3}"
    );
    eprintln!("held-out loss alone vs through neighbours: {alone_vs_gated:?}");
    eprintln!("in {:?}", started.elapsed());
    assert!(share < 0.05, "lazy + noisy got {share}");
    assert!(rho >= 0.8, "Spearman {rho}");
    // The weakest peer learns most through its neighbours.
    let (alone, gated) = alone_vs_gated[3];
    assert!(gated < alone, "alone {alone}, through neighbours {gated}");
}
