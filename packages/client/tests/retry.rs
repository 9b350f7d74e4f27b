//! `Retrying`: a transport error is tried again, a refusal is not.

use std::cell::Cell;
use std::time::Duration;

use agora_client::{Attributes, Chain, ChainError, EmbeddedChain, KeyAddresser, Retrying};
use agora_market::msg::{ExecuteMsg, GraphParams, QueryMsg, TEXT};

/// The embedded chain behind a link that drops the first `drops` calls.
struct Flaky {
    chain: EmbeddedChain,
    drops: Cell<u32>,
    calls: Cell<u32>,
}

impl Flaky {
    fn link(&self) -> Result<(), ChainError> {
        self.calls.set(self.calls.get() + 1);
        if self.drops.get() > 0 {
            self.drops.set(self.drops.get() - 1);
            return Err(ChainError::Transport("connection reset".to_string()));
        }
        Ok(())
    }
}

impl Chain for Flaky {
    fn height(&self) -> Result<u64, ChainError> {
        self.link()?;
        self.chain.height()
    }
    fn reach_height(&mut self, height: u64) -> Result<(), ChainError> {
        self.link()?;
        self.chain.reach_height(height)
    }
    fn address(&self, name: &str) -> Result<String, ChainError> {
        self.chain.address(name)
    }
    fn add_key(&mut self, name: &str, key: &k256::ecdsa::SigningKey) -> Result<String, ChainError> {
        self.chain.add_key(name, key)
    }
    fn transfer(&mut self, from: &str, to: &str, amount: u128) -> Result<(), ChainError> {
        self.chain.transfer(from, to, amount)
    }
    fn balance(&self, name: &str) -> Result<u128, ChainError> {
        self.link()?;
        self.chain.balance(name)
    }
    fn key_addresser(&self) -> KeyAddresser {
        self.chain.key_addresser()
    }
    fn execute_market(
        &mut self,
        name: &str,
        msg: &ExecuteMsg,
        funds: u128,
    ) -> Result<Attributes, ChainError> {
        self.link()?;
        self.chain.execute_market(name, msg, funds)
    }
    fn query_market_json(&self, msg: &QueryMsg) -> Result<Vec<u8>, ChainError> {
        self.link()?;
        self.chain.query_market_json(msg)
    }
    fn market_balance(&self) -> Result<u128, ChainError> {
        self.link()?;
        self.chain.market_balance()
    }
}

fn flaky(drops: u32) -> Retrying<Flaky> {
    let params = GraphParams::builder()
        .emission_per_epoch(1_000)
        .unbonding_period(10)
        .build();
    let mut chain = EmbeddedChain::new("uagora", "admin", 10u128.pow(12), params).unwrap();
    chain.fund("admin", "alice", 1_000_000).unwrap();
    let flaky = Flaky {
        chain,
        drops: Cell::new(drops),
        calls: Cell::new(0),
    };
    Retrying::new(flaky, 4, Duration::from_millis(1))
}

#[test]
fn a_dropped_call_is_tried_again_until_it_answers() {
    let mut chain = flaky(3);
    let uid = chain
        .register("alice", TEXT, "http://127.0.0.1:9001", 0)
        .unwrap();
    assert_eq!(uid, 0);
    assert_eq!(chain.inner().calls.get(), 4, "three drops, then the answer");
    assert_eq!(chain.metagraph(TEXT).unwrap().len(), 1, "registered once");
}

#[test]
fn past_its_tries_the_transport_error_is_returned() {
    let chain = flaky(10);
    let error = chain.height().unwrap_err();
    assert!(matches!(error, ChainError::Transport(_)), "{error}");
    assert_eq!(chain.inner().calls.get(), 4);
}

#[test]
fn a_refusal_is_an_answer_and_is_not_retried() {
    let mut chain = flaky(0);
    let error = chain.set_weights("alice", TEXT, &[(0, 1)]).unwrap_err();
    assert!(matches!(error, ChainError::Refused(_)), "{error}");
    assert_eq!(chain.inner().calls.get(), 1);
}
