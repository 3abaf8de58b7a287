# Paired A/B: rounds of (old, new) or (new, old), each `reps` repetitions; median per
# round, ratio new/old per round, median of the ratios.
import subprocess, statistics, sys
bench, rounds, reps = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def run(v):
    out = subprocess.run([f"/work/ab/{v}/target/release/ab-{v}", bench, reps], capture_output=True, text=True, check=True).stdout
    return statistics.median(float(x) for x in out.split())
ratios, olds, news = [], [], []
for r in range(rounds):
    order = ["old", "new"] if r % 2 == 0 else ["new", "old"]
    t = {v: run(v) for v in order}
    olds.append(t["old"]); news.append(t["new"]); ratios.append(t["new"] / t["old"])
print(f"{bench}: old median {statistics.median(olds)*1e3:.1f} ms, new median {statistics.median(news)*1e3:.1f} ms, "
      f"paired new/old median {statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}, {rounds} rounds x {reps})")
