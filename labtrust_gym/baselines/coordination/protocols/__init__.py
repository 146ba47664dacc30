"""Pure, deterministic coordination protocols (no env, no engine): the building blocks of the
``market_auction``, ``gossip_consensus``, ``consensus_paxos_lite``, ``swarm_reactive`` and
``swarm_stigmergy_priority`` methods. Inputs are the small records of :mod:`.common`; every
protocol returns its decisions plus counters. docs/coordination_protocols.md describes each one,
its parameters, counters and cost.
"""

from __future__ import annotations

from .channel import Delivery, LossyChannel
from .common import AgentInfo, LocalDecision, WorkItem, ZoneGraph, service_key
from .contract_net import AuctionParams, AuctionResult, Award, Collusion, ContractNet, run_auction
from .gossip import GossipNetwork, GossipParams, GossipResult
from .paxos_lite import PaxosLite, PaxosParams, PaxosStepResult
from .stigmergy import PheromoneField, StigmergyParams, StigmergyResult
from .swarm import SwarmParams, SwarmResult, swarm_step

__all__ = [
    "AgentInfo",
    "AuctionParams",
    "AuctionResult",
    "Award",
    "Collusion",
    "ContractNet",
    "Delivery",
    "GossipNetwork",
    "GossipParams",
    "GossipResult",
    "LocalDecision",
    "LossyChannel",
    "PaxosLite",
    "PaxosParams",
    "PaxosStepResult",
    "PheromoneField",
    "StigmergyParams",
    "StigmergyResult",
    "SwarmParams",
    "SwarmResult",
    "WorkItem",
    "ZoneGraph",
    "run_auction",
    "service_key",
    "swarm_step",
]
