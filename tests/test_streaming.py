"""Many nodes, one prepared store: two gloo processes read a store from a "remote" folder (a
path every node mounts) without writing to it, and see equal numbers of batches."""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils.data import DataLoader, DistributedSampler

from tensorrnn.data import UCF11
from tensorrnn.data.prepare import main as prepare_main

SIZE = (32, 24)
CLIPS = 17  # odd: two ranks cannot split it evenly without the sampler's padding
BATCH = 4


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def _rank(rank: int, world: int, root: str, remote: str, init: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        dataset = UCF11(root, size=SIZE, cache_dir=remote, progress=False, seed=0).subset(range(CLIPS))
        assert dataset._cache is not None and dataset._cache.missing([c.path for c in dataset.clips]) == []
        # what Lightning's use_distributed_sampler puts under every training loader
        sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=0)
        indices, batches = [], 0
        for epoch in range(2):
            sampler.set_epoch(epoch)
            dataset.set_epoch(epoch)
            for frames, _ in DataLoader(dataset, batch_size=BATCH, sampler=sampler):
                assert frames.shape[1:] == (6, SIZE[1], SIZE[0], 3)
                batches += 1
            indices.append(list(sampler))
        counts = [None] * world
        dist.all_gather_object(counts, batches)  # what a collective in the training step sees
        Path(out, f"rank{rank}.json").write_text(json.dumps({"batches": batches, "all": counts, "indices": indices}))
    finally:
        dist.destroy_process_group()


def test_two_ranks_read_a_shared_store_and_see_equal_batch_counts(ucf11_root, tmp_path):
    remote = tmp_path / "remote"  # the shared path (or a mount of an object store)
    assert prepare_main(["ucf11", str(ucf11_root), "--cache-dir", str(remote), "--size", *map(str, SIZE)]) == 0
    before = snapshot(remote)
    out = tmp_path / "out"
    out.mkdir()
    init = f"file://{tmp_path / 'rendezvous'}"
    threads = torch.get_num_threads()
    mp.start_processes(_rank, args=(2, str(ucf11_root), str(remote), init, str(out)), nprocs=2, join=True,
                       start_method="fork")
    torch.set_num_threads(threads)
    results = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    per_epoch = -(-CLIPS // 2)  # 9 clips a rank (one padded), ceil(9 / 4) = 3 batches
    assert [r["batches"] for r in results] == [2 * -(-per_epoch // BATCH)] * 2 == [6, 6]
    assert results[0]["all"] == results[1]["all"] == [6, 6]
    for epoch in (0, 1):  # together the ranks cover every clip; the one padded clip is repeated
        seen = results[0]["indices"][epoch] + results[1]["indices"][epoch]
        assert sorted(set(seen)) == list(range(CLIPS)) and len(seen) == 2 * per_epoch
    assert results[0]["indices"][0] != results[0]["indices"][1]  # reshuffled per epoch
    assert snapshot(remote) == before  # read only: nothing written to the shared store
