# Paired A/B of the two builds /tmp/ab/{old,new} (see README.md): rounds alternate which
# build runs first; each run's median over `reps` calls; the ratio new/old per round; the
# median of those ratios. Both builds must print the same checksum on stderr (engine.rs:
# same bits; old.rs and new.rs print none).
#   python3 pair.py N D K THREADS [MODE] ROUNDS REPS   (engine.rs)
#   python3 pair.py BENCH ROUNDS REPS                  (old.rs and new.rs)
import statistics, subprocess, sys

args = sys.argv[1:-2]
rounds, reps = int(sys.argv[-2]), sys.argv[-1]


def run(v):
    out = subprocess.run([f"/tmp/ab/{v}/target/release/ab-{v}", *args, reps], capture_output=True, text=True, check=True)
    t = [float(x) for x in out.stdout.split()]
    return statistics.median(t), min(t), out.stderr.strip()


ratios, olds, news, omin, nmin = [], [], [], [], []
for r in range(rounds):
    order = ["old", "new"] if r % 2 == 0 else ["new", "old"]
    t = {v: run(v) for v in order}
    assert t["old"][2] == t["new"][2], (t["old"][2], t["new"][2])
    olds.append(t["old"][0]); news.append(t["new"][0]); ratios.append(t["new"][0] / t["old"][0])
    omin.append(t["old"][1]); nmin.append(t["new"][1])
print(f"{' '.join(args)}: old med {statistics.median(olds)*1e3:.2f} min {min(omin)*1e3:.2f} ms, "
      f"new med {statistics.median(news)*1e3:.2f} min {min(nmin)*1e3:.2f} ms, paired new/old median "
      f"{statistics.median(ratios):.3f} (range {min(ratios):.3f}-{max(ratios):.3f}, {rounds} rounds x {reps}), same bits")
