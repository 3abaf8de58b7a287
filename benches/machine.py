"""What the benchmark scripts report about the machine they ran on (imported by them; run
from the repository root or from benches/)."""
import os
import subprocess


def cpu_name():
    """lscpu's model name, or "unknown"."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def load():
    """The 1, 5 and 15 minute load averages."""
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
