//! The intelligence market on one machine (`agora_peer::market`): honest
//! peers of different quality, a lazy peer and a noisy peer serve over
//! loopback HTTP; the honest ones learn through each other with sparse
//! gating, value each neighbour, and set weights on the embedded chain.

use std::time::Instant;

use std::sync::atomic::AtomicBool;

use agora_peer::market::{MarketConfig, Progress, run_market, spearman};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn useful_peers_earn_and_lazy_and_noisy_ones_do_not() {
    let started = Instant::now();
    let stop = AtomicBool::new(false);
    let report = run_market(&MarketConfig::quick(), &stop, |progress| {
        if let Progress::Setup(line) = progress {
            eprintln!("{line}");
        }
    })
    .await
    .unwrap();
    assert_eq!(report.epochs.len(), 3);
    eprintln!("{}", serde_json::to_string_pretty(&report).unwrap());
    eprintln!("in {:?}", started.elapsed());

    // After three epochs the lazy and noisy peers earn under 5% together.
    assert!(
        report.idle_share < 0.05,
        "lazy + noisy got {}",
        report.idle_share
    );
    // Incentive follows true quality, and every honest peer but the
    // weakest is paid: trained 20 steps, that one serves a model worse
    // than the bytes' frequencies (alone 3.59 nats against a unigram's
    // 3.21), which no neighbour misses (README, "The peer's corpus").
    assert!(report.spearman >= 0.9, "Spearman {}", report.spearman);
    let honest: Vec<_> = report
        .peers
        .iter()
        .filter(|p| p.alone_loss.is_some())
        .collect();
    for peer in &honest[..honest.len() - 1] {
        assert!(peer.incentive > 0.0, "{} got no incentive", peer.role);
    }
    // Every honest peer does better through its neighbours than alone, and
    // the weakest one's distilled student keeps much of that gain without
    // calling anyone.
    for peer in &honest {
        let (alone, gated) = (peer.alone_loss.unwrap(), peer.network_loss.unwrap());
        assert!(
            gated < alone,
            "{}: alone {alone}, through neighbours {gated}",
            peer.role
        );
    }
    let weakest = honest.last().unwrap();
    let (student, gated) = (weakest.student_loss.unwrap(), weakest.network_loss.unwrap());
    assert!(student < 1.1 * gated, "student {student}, network {gated}");
    // The best honest peer alone is within 0.8 of the byte-bigram baseline.
    let best = f64::from(honest[0].alone_loss.unwrap());
    assert!(
        best <= 0.8 * report.bigram_loss,
        "best {best}, bigram {}",
        report.bigram_loss
    );
}

#[test]
fn spearman_ranks_with_ties() {
    assert_eq!(spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]), 1.0);
    assert_eq!(spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), -1.0);
    let tied = spearman(&[0.0, 0.0, 1.0, 2.0], &[1.0, 2.0, 3.0, 4.0]);
    assert!((tied - 0.9486832980505138).abs() < 1e-12, "{tied}");
    assert_eq!(spearman(&[1.0, 1.0], &[1.0, 2.0]), 0.0);
}
