//! A RabbitMQ cluster of private nodes, for node-loss tests: three [`PrivateNode`]s with one fresh
//! Erlang cookie, joined into one cluster, each with its own ports, data and logs.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use broker_bridge::testing::PrivateCluster;
//!
//! let mut cluster = PrivateCluster::start().await?;
//! // ... declare a quorum queue through cluster.amqp_url(0), start the clients ...
//! let leader = cluster.leader_of("instadash.events.tracker").await?;
//! cluster.kill(leader).await?;      // kill -9 of the node holding the queue's leader
//! cluster.restart(leader).await?;   // back, on the same data, and in the cluster again
//! # Ok(()) }
//! ```
//!
//! Each node takes about 220 MB and the cluster is ready in about half a minute on a small machine,
//! so start one per test, never one per assertion. Dropping the cluster kills every node (frozen
//! ones too) and removes their directories.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;

use super::private_node::{Membership, PrivateNode};

/// How long a node may take to start its application again after joining.
const JOIN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long [`PrivateCluster::wait_until_clustered`] waits by default for restarted nodes.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(250);
/// How long one `cluster_status` may take while waiting for the cluster (a few seconds normally).
const STATUS_TIMEOUT: Duration = Duration::from_secs(15);
/// The nodes of a [`PrivateCluster::start`]ed cluster: the smallest number where quorum queues
/// survive the loss of one node.
pub const CLUSTER_SIZE: usize = 3;

/// Three private RabbitMQ nodes joined into one cluster. Nodes are addressed by index
/// (`0..CLUSTER_SIZE`); node 0 is the one the others joined, otherwise they are equal.
pub struct PrivateCluster {
    nodes: Vec<PrivateNode>,
}

/// One queue's row of `rabbitmqctl list_queues name leader members --formatter json`.
#[derive(Debug, Deserialize)]
struct QueueRow {
    name: String,
    #[serde(default)]
    leader: serde_json::Value,
    #[serde(default)]
    members: serde_json::Value,
}

impl PrivateCluster {
    /// Boots [`CLUSTER_SIZE`] fresh nodes sharing a fresh cookie, joins nodes 1 and 2 to node 0
    /// (`stop_app`, `join_cluster`, `start_app`) and waits until every node answers AMQP and sees
    /// all the others running. Fails with the failing node's log tail.
    pub async fn start() -> Result<Self> {
        let started = Instant::now();
        let membership = Membership::fresh();
        // Booted one after the other: three VMs booting at once on two cores take longer in all
        // than in turn, and a slow boot hits the boot timeout.
        let mut nodes = Vec::with_capacity(CLUSTER_SIZE);
        for _ in 0..CLUSTER_SIZE {
            nodes.push(PrivateNode::start_member(&membership).await?);
        }
        let cluster = Self { nodes };
        let seed = cluster.nodes[0].name().to_owned();
        for node in &cluster.nodes[1..] {
            node.ctl(&["stop_app"]).await?;
            node.ctl(&["join_cluster", &seed])
                .await
                .with_context(|| format!("joining {} to {seed}", node.name()))?;
            node.ctl(&["start_app"]).await?;
            node.wait_until_answering(JOIN_TIMEOUT).await?;
        }
        cluster.wait_until_clustered(CLUSTER_TIMEOUT).await?;
        tracing::info!(
            nodes = ?cluster.nodes.iter().map(PrivateNode::name).collect::<Vec<_>>(),
            elapsed = ?started.elapsed(),
            "private RabbitMQ cluster ready"
        );
        Ok(cluster)
    }

    /// How many nodes the cluster has.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Always false: a cluster has nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Node `index`, e.g. to run `ctl` on it or read its port.
    pub fn node(&self, index: usize) -> &PrivateNode {
        &self.nodes[index]
    }

    /// Node `index`'s URL, `amqp://guest:guest@127.0.0.1:<its port>/%2f`.
    pub fn amqp_url(&self, index: usize) -> String {
        self.nodes[index].amqp_url()
    }

    /// Every node's URL, in index order.
    pub fn amqp_urls(&self) -> Vec<String> {
        self.nodes.iter().map(PrivateNode::amqp_url).collect()
    }

    /// The index of the node with the Erlang node name `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|node| node.name() == name)
    }

    /// The index of the node that holds the leader of the quorum queue `queue` (vhost `/`), as a
    /// running member of the cluster reports it. Fails if the queue does not exist, is not a
    /// quorum queue, or has no leader right now (an election is under way: ask again).
    pub async fn leader_of(&self, queue: &str) -> Result<usize> {
        let row = self.queue_row(queue).await?;
        let leader = row.leader.as_str().unwrap_or_default();
        self.index_of(leader)
            .ok_or_else(|| anyhow!("queue {queue} has no leader in this cluster now ({leader:?})"))
    }

    /// The indexes of the nodes holding a replica of the quorum queue `queue` (vhost `/`).
    pub async fn members_of(&self, queue: &str) -> Result<Vec<usize>> {
        let row = self.queue_row(queue).await?;
        let members = row.members.as_array().cloned().unwrap_or_default();
        members
            .iter()
            .map(|m| {
                let name = m.as_str().unwrap_or_default();
                self.index_of(name)
                    .ok_or_else(|| anyhow!("queue {queue} has a member outside the cluster: {m}"))
            })
            .collect()
    }

    /// Moves the leader of the quorum queue `queue` (vhost `/`) to node `to` (Ra's leadership
    /// transfer, as `rabbitmq-upgrade drain` does), and waits (up to 30 s) until the cluster
    /// reports it there. Lets a test choose which node a "kill the leader" fault hits. `queue`
    /// must be a plain queue name (letters, digits, `.`, `-`, `_`).
    pub async fn transfer_leader(&self, queue: &str, to: usize) -> Result<()> {
        if !queue
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        {
            bail!("queue name {queue:?} cannot be passed to rabbitmqctl eval");
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let target = self.nodes[to].name();
        while self.leader_of(queue).await.ok() != Some(to) {
            if Instant::now() >= deadline {
                bail!("the leader of {queue} did not move to {target} within 30 s");
            }
            // amqqueue:get_pid/1 of a quorum queue is {RaName, LeaderNode}.
            let expr = format!(
                "{{ok, Q}} = rabbit_amqqueue:lookup(rabbit_misc:r(<<\"/\">>, queue, <<\"{queue}\">>)), \
                 {{RaName, Leader}} = amqqueue:get_pid(Q), \
                 ra:transfer_leadership({{RaName, Leader}}, {{RaName, '{target}'}})."
            );
            self.ctl(&["eval", &expr]).await?;
            tokio::time::sleep(POLL).await;
        }
        Ok(())
    }

    /// Runs `rabbitmqctl <args>` on a running, unfrozen node (the lowest such index).
    pub async fn ctl(&self, args: &[&str]) -> Result<String> {
        let node = self
            .nodes
            .iter()
            .find(|n| n.is_running() && !n.is_frozen())
            .ok_or_else(|| anyhow!("no node of the cluster is running and answering"))?;
        node.ctl(args).await
    }

    /// `kill -9` of node `index` (see [`PrivateNode::kill`]).
    pub async fn kill(&mut self, index: usize) -> Result<()> {
        self.nodes[index].kill().await
    }

    /// `kill -STOP` of node `index` (see [`PrivateNode::freeze`]).
    pub fn freeze(&mut self, index: usize) -> Result<()> {
        self.nodes[index].freeze()
    }

    /// `kill -CONT` of node `index` (see [`PrivateNode::thaw`]).
    pub fn thaw(&mut self, index: usize) -> Result<()> {
        self.nodes[index].thaw()
    }

    /// Stops node `index` cleanly (see [`PrivateNode::stop`]).
    pub async fn stop(&mut self, index: usize) -> Result<()> {
        self.nodes[index].stop().await
    }

    /// Starts node `index` again on its data (it rejoins the cluster by itself, having been a
    /// member) and waits until every running node sees it running again.
    pub async fn restart(&mut self, index: usize) -> Result<()> {
        self.nodes[index].restart().await?;
        self.wait_until_clustered(CLUSTER_TIMEOUT).await
    }

    /// Waits (up to `limit`) until every running, unfrozen node lists all of those nodes among
    /// its running cluster nodes.
    pub async fn wait_until_clustered(&self, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        let expected: Vec<&str> = self
            .nodes
            .iter()
            .filter(|n| n.is_running() && !n.is_frozen())
            .map(PrivateNode::name)
            .collect();
        for node in self
            .nodes
            .iter()
            .filter(|n| n.is_running() && !n.is_frozen())
        {
            loop {
                let running = running_nodes(node).await;
                let seen = running.as_deref().unwrap_or_default();
                let missing: Vec<&&str> = expected
                    .iter()
                    .filter(|name| !seen.iter().any(|r| r == **name))
                    .collect();
                if missing.is_empty() {
                    break;
                }
                if Instant::now() >= deadline {
                    let sees = match &running {
                        Ok(running) => format!("it sees {running:?}"),
                        Err(error) => {
                            format!("it cannot be asked: {error:#}\n{}", node.log_tail())
                        }
                    };
                    bail!(
                        "node {} does not see {missing:?} running after {limit:?} ({sees})",
                        node.name()
                    );
                }
                tokio::time::sleep(POLL).await;
            }
        }
        Ok(())
    }

    async fn queue_row(&self, queue: &str) -> Result<QueueRow> {
        let out = self
            .ctl(&[
                "list_queues",
                "-p",
                "/",
                "name",
                "leader",
                "members",
                "--formatter",
                "json",
                "--silent",
            ])
            .await?;
        let rows: Vec<QueueRow> = serde_json::from_str(out.trim())
            .with_context(|| format!("reading list_queues output: {out}"))?;
        rows.into_iter()
            .find(|row| row.name == queue)
            .ok_or_else(|| anyhow!("no queue {queue} in the cluster"))
    }
}

/// The running nodes `node` sees (`cluster_status`). Each ask is short, so that one CLI call that
/// hangs (seen once, on a node just thawed) is asked again rather than using up the whole wait.
async fn running_nodes(node: &PrivateNode) -> Result<Vec<String>> {
    #[derive(Deserialize)]
    struct Status {
        #[serde(default)]
        running_nodes: Vec<String>,
    }
    let out = node
        .ctl_within(
            &["cluster_status", "--formatter", "json", "--silent"],
            STATUS_TIMEOUT,
        )
        .await?;
    let status: Status = serde_json::from_str(out.trim())
        .with_context(|| format!("reading cluster_status output: {out}"))?;
    Ok(status.running_nodes)
}

impl std::fmt::Debug for PrivateCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(&self.nodes).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cluster forms, a quorum queue declared on node 0 has its leader there and replicas on
    /// all three, a killed follower comes back into the cluster, and a frozen node thaws.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn private_node_cluster_forms_and_survives_kill_and_freeze() {
        let mut cluster = PrivateCluster::start().await.expect("cluster starts");
        assert_eq!(cluster.len(), CLUSTER_SIZE);
        let urls = cluster.amqp_urls();
        assert_eq!(urls.len(), 3);
        assert!(urls[0] != urls[1] && urls[1] != urls[2]);

        let connection = lapin::Connection::connect(
            &cluster.amqp_url(0),
            lapin::ConnectionProperties::default(),
        )
        .await
        .expect("connect to node 0");
        let channel = connection.create_channel().await.expect("channel");
        let mut args = lapin::types::FieldTable::default();
        args.insert(
            "x-queue-type".into(),
            lapin::types::AMQPValue::LongString("quorum".into()),
        );
        channel
            .queue_declare(
                "cluster-test".into(),
                lapin::options::QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                args,
            )
            .await
            .expect("declare a quorum queue");
        assert_eq!(cluster.leader_of("cluster-test").await.expect("leader"), 0);
        cluster
            .transfer_leader("cluster-test", 2)
            .await
            .expect("leadership moves");
        assert_eq!(cluster.leader_of("cluster-test").await.expect("leader"), 2);
        let mut members = cluster.members_of("cluster-test").await.expect("members");
        members.sort_unstable();
        assert_eq!(members, vec![0, 1, 2]);
        let _ = connection.close(200, "done".into()).await;

        cluster.kill(2).await.expect("kill node 2");
        assert!(!cluster.node(2).is_running());
        cluster
            .restart(2)
            .await
            .expect("node 2 back in the cluster");

        cluster.freeze(1).expect("freeze node 1");
        assert!(cluster.node(1).is_frozen());
        cluster.thaw(1).expect("thaw node 1");
        cluster
            .wait_until_clustered(Duration::from_secs(30))
            .await
            .expect("all three running");
    }
}
