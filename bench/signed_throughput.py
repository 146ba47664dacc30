"""Signed labs: the cost of authenticating every event, option by option, side by side.

Usage (from the repo root)::

    python bench/signed_throughput.py                 # primitives + env at N = 75
    python bench/signed_throughput.py --steps 60 --repeat 5 --json out.json

Part 1 (primitives, µs per event, best of ``--repeat``; the event is a typical env event):

* ``ed25519_sign`` / ``ed25519_verify``: ``cryptography`` (OpenSSL), per event;
* ``nacl_sign`` / ``nacl_verify``: PyNaCl (libsodium), when installed (not a dependency);
* ``hmac_sign`` / ``hmac_verify``: one-shot HMAC-SHA256 with a session key, message = canonical
  JSON; ``hmac_precomputed_*``: the same with the keyed SHA-256 states computed once per session
  (``labtrust_gym.engine.signing.HmacSha256``, what the engine and the env use).

Batch verification is not offered by either binding, so it is not measured.

Part 2 (the env, agent-steps per second inside ``env.step`` with random valid actions, best
and median segment): the preset ``medium_stress_signed_bus`` (75 agents) three ways —
``unsigned`` (strict_signatures off), ``ed25519`` (signature_mode ed25519: one Ed25519
signature per event, signed by the env and verified by the engine) and ``session`` (the
default: one Ed25519 handshake per agent, then HMAC-SHA256 per event). Same seed, same
actions; the three modes run ``--rounds`` times interleaved and the best round of each is kept
(a shared machine's load shifts between rounds).
This is a benchmark, not a test: it prints, it never fails.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

PRESET = "medium_stress_signed_bus"


def _best_us(fn: Any, n: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n)
    return round(best * 1e6, 2)


def primitives(repeat: int) -> dict[str, float]:
    import hashlib
    import hmac

    import orjson

    from labtrust_gym.engine.signing import derive_keypair, signing_message

    ev = {
        "t_s": 120.0,
        "agent_id": "runner_12",
        "action_type": "MOVE",
        "args": {"to_zone": "Z_SORTING"},
        "key_id": "K_runner_12",
        "seq": 17,
    }
    msg = signing_message(ev)
    priv, _pub = derive_keypair("runner_12")
    pub = priv.public_key()
    sig = priv.sign(msg)
    out = {
        "ed25519_sign": _best_us(lambda: priv.sign(msg), 2000, repeat),
        "ed25519_verify": _best_us(lambda: pub.verify(sig, msg), 2000, repeat),
    }
    try:
        import nacl.signing

        sk = nacl.signing.SigningKey(hashlib.sha256(b"bench").digest())
        vk = sk.verify_key
        signed = sk.sign(msg)
        out["nacl_sign"] = _best_us(lambda: sk.sign(msg), 2000, repeat)
        out["nacl_verify"] = _best_us(lambda: vk.verify(signed), 2000, repeat)
    except ImportError:
        pass
    from labtrust_gym.engine.signing import HmacSha256

    key = hashlib.sha256(b"session").digest()
    mac = hmac.digest(key, msg, "sha256")
    pre = HmacSha256(key)
    hexmac = pre.hexdigest(msg)
    sort = orjson.OPT_SORT_KEYS
    out["hmac_sign"] = _best_us(
        lambda: hmac.digest(key, orjson.dumps(ev, option=sort), "sha256"), 20000, repeat
    )
    out["hmac_verify"] = _best_us(
        lambda: hmac.compare_digest(
            hmac.digest(key, orjson.dumps(dict(ev), option=sort), "sha256"), mac
        ),
        20000,
        repeat,
    )
    out["hmac_precomputed_sign"] = _best_us(
        lambda: pre.hexdigest(orjson.dumps(ev, option=sort)), 20000, repeat
    )
    out["hmac_precomputed_verify"] = _best_us(
        lambda: hmac.compare_digest(pre.hexdigest(orjson.dumps(ev.copy(), option=sort)), hexmac),
        20000,
        repeat,
    )
    return out


def env_rate(mode: str, steps: int, warmup: int, repeat: int, seed: int) -> dict[str, Any]:
    import numpy as np

    from labtrust_gym.envs import LabTrustParallelEnv
    from labtrust_gym.envs.scale import generate_initial_state

    horizon = warmup + repeat * steps + 1
    scale = {"base": PRESET, "horizon_steps": horizon}
    state = dict(generate_initial_state(scale, seed))
    if mode == "unsigned":
        state["strict_signatures"] = False
    else:
        state["signature_mode"] = mode
    env = LabTrustParallelEnv(scale_config=scale, initial_state=state)
    obs, _ = env.reset(seed=seed)
    agents = list(env.agents)
    rng = np.random.default_rng(seed)

    def draw(observations: dict[str, Any]) -> dict[str, int]:
        masks = np.stack([observations[a]["action_mask"] for a in agents])
        return dict(
            zip(agents, (rng.random(masks.shape) * masks).argmax(axis=1).tolist(), strict=True)
        )

    blocked = 0
    for _ in range(warmup):
        obs, *_ = env.step(draw(obs))
    rates = []
    n = len(agents)
    for _ in range(repeat):
        spent = 0.0
        for _ in range(steps):
            actions = draw(obs)
            t0 = time.perf_counter()
            obs, _r, _te, _tr, infos = env.step(actions)
            spent += time.perf_counter() - t0
            blocked += sum(
                1
                for i in infos.values()
                if str((i.get("step_result") or {}).get("blocked_reason_code")).startswith("SIG.")
            )
        rates.append(n * steps / spent)
    head = env.engine.chain_head()
    env.close()
    return {
        "mode": mode,
        "n_agents": n,
        "agent_steps_per_s": round(max(rates)),
        "median_agent_steps_per_s": round(statistics.median(rates)),
        "sig_refusals": blocked,
        "chain_length": head["length"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)

    prims = primitives(args.repeat)
    print("primitives (us per event, best): " + ", ".join(f"{k} {v}" for k, v in prims.items()))
    best: dict[str, dict[str, Any]] = {}
    for _ in range(args.rounds):
        for mode in ("unsigned", "ed25519", "session"):
            row = env_rate(mode, args.steps, args.warmup, args.repeat, args.seed)
            if mode not in best or row["agent_steps_per_s"] > best[mode]["agent_steps_per_s"]:
                best[mode] = row
    rows = [best[m] for m in ("unsigned", "ed25519", "session")]
    for row in rows:
        print(
            f"{PRESET} N={row['n_agents']} {row['mode']:>8}: {row['agent_steps_per_s']:>8,} "
            f"agent-steps/s (best; median {row['median_agent_steps_per_s']:,}); "
            f"SIG.* refusals {row['sig_refusals']}; chain length {row['chain_length']}",
            flush=True,
        )
    base = rows[0]["agent_steps_per_s"]
    for row in rows[1:]:
        print(f"  {row['mode']}: {row['agent_steps_per_s'] / base:.2f} x unsigned")
    if args.json:
        from labtrust_gym.fileio import atomic_write_json

        atomic_write_json(
            args.json, {"python": sys.version.split()[0], "primitives_us": prims, "env": rows}
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
