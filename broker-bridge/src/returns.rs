//! Which publish a `basic.return` (an unroutable message sent back) belongs to.
//!
//! lapin hands a return to whichever confirm it settles next: with one ack settling several
//! publishes, that can be the wrong one, which then looks unroutable while the unroutable one looks
//! delivered. The confirm tracker therefore matches returns to publishes by message id:
//!
//! - The publishes one ack settles become ready together; the tracker takes every ready one before
//!   reporting any, so a return carried by the wrong publish of the batch reaches its own.
//! - A return whose publish is settled later (its confirm not yet followed when the batch was
//!   taken) waits for it.
//! - One race remains: a publish whose ack comes before its sender handed it to the tracker (a
//!   thread descheduled right after writing, on a saturated machine) can carry another's return
//!   after that one was reported delivered. The return is then logged after a while, not lost in
//!   silence. (Holding every report until all earlier publishes are followed closes the race but
//!   lets one publish stuck in lapin hold back every report; see ARCHITECTURE.md, known limits.)

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tracing::warn;

use crate::publisher::Settled;

/// Returns carried by another publish's confirm, waiting for the publish they belong to: the
/// broker's reply by message id, and since when.
#[derive(Default)]
pub(crate) struct Returns(HashMap<String, (String, Instant)>);

/// After this long a stray return is logged and forgotten.
const STRAY_RETURN_TTL: Duration = Duration::from_secs(60);

impl Returns {
    /// Takes a batch of settled publishes (every one ready when the tracker looked), gives each
    /// return found in it to its own publish, and reports them all.
    pub(crate) fn settle(&mut self, batch: &mut Vec<Settled>, mut report: impl FnMut(Settled)) {
        for settled in batch.iter_mut() {
            if let Some((owner, reply)) = settled.stray_return.take() {
                self.0.insert(owner, (reply, Instant::now()));
            }
        }
        for mut settled in batch.drain(..) {
            if !self.0.is_empty()
                && settled.outcome.is_ok()
                && settled.message.mandatory
                && let Some((reply, _)) = settled.message.id().and_then(|id| self.0.remove(id))
            {
                settled.outcome = Err(settled.message.unroutable(reply));
            }
            report(settled);
        }
        if !self.0.is_empty() {
            self.0.retain(|id, (reply, since)| {
                let waiting = since.elapsed() < STRAY_RETURN_TTL;
                if !waiting {
                    warn!(message_id = %id, %reply, "the broker returned a message already reported delivered");
                }
                waiting
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::PublishError;

    /// lapin gave the orphan's return to a routed publish of the same ack: each is reported as
    /// what it was, whichever order the batch holds them in.
    #[test]
    fn a_return_reaches_its_own_publish_within_a_batch() {
        for order in [[0, 1], [1, 0]] {
            let made = [
                Settled::for_test("routed", Some(("orphan".into(), "312 NO_ROUTE".into()))),
                Settled::for_test("orphan", None),
            ];
            let mut made = made.map(Some);
            let mut batch: Vec<Settled> = order.iter().filter_map(|&i| made[i].take()).collect();
            let mut reported = Vec::new();
            Returns::default().settle(&mut batch, |s| reported.push(s));
            let outcome = |id: &str| {
                reported
                    .iter()
                    .find(|s| s.message.id() == Some(id))
                    .map(|s| &s.outcome)
            };
            assert!(matches!(outcome("routed"), Some(Ok(()))));
            assert!(matches!(
                outcome("orphan"),
                Some(Err(PublishError::Unroutable { reply, .. })) if reply == "312 NO_ROUTE"
            ));
        }
    }

    /// A return whose publish is settled in a later batch waits for it.
    #[test]
    fn a_return_waits_for_its_publish() {
        let mut returns = Returns::default();
        let mut reported = Vec::new();
        let mut first = vec![Settled::for_test(
            "routed",
            Some(("orphan".into(), "312 NO_ROUTE".into())),
        )];
        returns.settle(&mut first, |s| reported.push(s));
        let mut later = vec![Settled::for_test("orphan", None)];
        returns.settle(&mut later, |s| reported.push(s));
        assert!(reported[0].outcome.is_ok());
        assert!(matches!(
            reported[1].outcome,
            Err(PublishError::Unroutable { .. })
        ));
    }
}
