"""A Ray cluster on loopback for the sweep tests, in a process of its own (the test process never
imports Ray): a head with no CPUs and worker nodes of one CPU each (ray.cluster_utils.Cluster,
reference/scaleout.md). Its HOME and RAY_TMPDIR are the caller's temporary folders.

Prints one JSON line {"address", "nodes"}, then reads commands from stdin, one per line, answering
each with one JSON line: `kill NODE_ID_PREFIX` (SIGKILL the node's raylet and processes), `add`
(a fresh worker node), `stop` (shut everything down).
"""

import json
import os
import sys

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # before Ray is imported: every socket on 127.0.0.1

from ray.cluster_utils import Cluster  # noqa: E402

WORKER_NODES = int(sys.argv[1]) if len(sys.argv) > 1 else 2
LOOPBACK = "127.0.0.1"


def add(cluster):
    node = cluster.add_node(num_cpus=1, node_ip_address=LOOPBACK)
    cluster.wait_for_nodes()
    return node


def answer(**fields):
    print(json.dumps(fields), flush=True)


cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False, "node_ip_address": LOOPBACK})
nodes = [add(cluster) for _ in range(WORKER_NODES)]
answer(address=cluster.address, nodes=[node.node_id for node in nodes])
for line in sys.stdin:
    command = line.split()
    if command[:1] == ["kill"]:
        node = next(node for node in nodes if node.node_id.startswith(command[1]))
        cluster.remove_node(node, allow_graceful=False)
        nodes.remove(node)
        answer(killed=node.node_id, nodes=[node.node_id for node in nodes])
    elif command[:1] == ["add"]:
        nodes.append(add(cluster))
        answer(added=nodes[-1].node_id, nodes=[node.node_id for node in nodes])
    elif command[:1] == ["stop"]:
        break
cluster.shutdown()
answer(stopped=True)
