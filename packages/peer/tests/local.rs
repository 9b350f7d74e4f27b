//! The local model learns English from its shard of Debian's fortunes.

use std::path::Path;
use std::time::Instant;

use agora_peer::corpus::{Corpus, FORTUNES_DIR, locate};
use agora_peer::local::{LocalModel, Shape};
use agora_peer::quality::bigram_loss;
use agora_peer::{Learner, Model};

const SHAPE: Shape = Shape {
    context: 8,
    embed: 16,
    hidden: 128,
    dim: 32,
};

#[test]
fn training_lowers_the_held_out_loss_and_the_axon_serves_representations() {
    // scripts/setup.sh installs the fortunes: no fallback here.
    let (source, warning) = locate(None);
    assert_eq!((source.as_path(), warning), (Path::new(FORTUNES_DIR), None));
    let corpus = Corpus::load(&source).unwrap();
    assert!(
        corpus.train.len() > 2_000_000,
        "{} bytes",
        corpus.train.len()
    );
    assert!(corpus.files.len() > 30, "{} files", corpus.files.len());
    let shard = corpus.shard(0, 4);
    let model = LocalModel::new(SHAPE, 1).unwrap();
    let before = model.evaluate(&corpus.held_out, 4, 256).unwrap();
    let started = Instant::now();
    model.train(&shard, 1000, 64, 7).unwrap();
    let after = model.evaluate(&corpus.held_out, 4, 256).unwrap();
    eprintln!(
        "held-out loss {before:.3} -> {after:.3} in {:?}",
        started.elapsed()
    );
    // Uniform over bytes is ln 256 = 5.55.
    assert!(before > 5.0, "{before}");
    assert!(after < 3.0, "{after}");
    // Nearly as good as a bigram counted on all the training text.
    assert!(f64::from(after) < bigram_loss(&corpus.train, &corpus.held_out) + 0.4);
    let outputs = model
        .forward(&[b"the free".to_vec(), b"software".to_vec()])
        .unwrap();
    assert_eq!(outputs.len(), 2);
    assert!(
        outputs
            .iter()
            .all(|row| row.len() == 32 && row.iter().all(|v| v.abs() <= 1.0))
    );
    assert_ne!(outputs[0], outputs[1]);
}
