"""One Python process with Keras on JAX and TensorFlow blocked (tests/fixtures/no_tensorflow), shared by
the tests that need that backend (the `jax_child` fixture in tests/conftest.py). Starting such a process
costs ~4 s of CPU (JAX, Keras, archspec's training modules), and a run of the digits spec another ~2 s
(scikit-learn) before any step; seven tests paid that seven times, now each pytest-xdist worker pays it once, at its first such test.

A job is either a script, run like `python -c CODE ARGS...` (fresh globals, `__name__ == "__main__"`,
`sys.argv`), or the command line, run like `python -m archspec ARGS...` (`archspec.cli.main`, `sys.argv`
set as the command would see it). Each comes back as (returncode, stdout, stderr) of what Python
printed. Between jobs the child puts back what a job may change for the next: the working directory,
the environment, `sys.argv`, Keras's session (layer names, random state) and its global dtype policy.

XLA compiles the child's programs with LLVM's optimizations off (`--xla_backend_optimization_level=0`):
XLA's own passes still run (fusion, layout, buffer assignment), so the programs, their results and
their memory plans are the same — measured: the same digits history to the last printed digit after 2
epochs, the same bytes in every field of resnet_blocks' compiled-step memory analysis — only the machine
code is slower, which none of these tests times, and compiling costs about half as much CPU (the seven
tests' jobs: 58 → 31 s). Step-time measurements (test_training_estimate.py's TIME) run elsewhere.

Run as a script, this file is the child: one JSON job per line on stdin, one JSON result per line on the
file descriptor that was stdout (stdout itself then goes to stderr, so native libraries printing there
cannot break the protocol)."""
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
NO_TF = TESTS / "fixtures" / "no_tensorflow"


class Result:
    """returncode, stdout, stderr as `subprocess.run` gives them; cpu_s: the child's CPU seconds (user +
    system, all threads) for the job, which pytest's durations see only as wall time."""

    def __init__(self, returncode: int, stdout: str, stderr: str, cpu_s: float = 0.0):
        self.returncode, self.stdout, self.stderr, self.cpu_s = returncode, stdout, stderr, cpu_s


class JaxChild:
    """The child, started on the first job; `run` and `cli` send one job and wait for its result."""

    def __init__(self):
        self.proc: subprocess.Popen | None = None
        self.results: queue.Queue = queue.Queue()
        self.cpu_s = 0.0                                    # the jobs' CPU seconds so far, for measurements

    def _start(self):
        env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "3",
               "PYTHONPATH": os.pathsep.join([str(NO_TF), str(ROOT)]),
               "XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} --xla_backend_optimization_level=0".strip()}
        self.proc = subprocess.Popen([sys.executable, __file__], cwd=ROOT, env=env, text=True, bufsize=1,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.results = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._read, args=(self.proc, self.results), daemon=True).start()
        threading.Thread(target=self._drain, args=(self.proc, self.log), daemon=True).start()

    @staticmethod
    def _read(proc, results):
        for line in proc.stdout:
            results.put(json.loads(line))
        results.put(None)                                   # the child ended

    @staticmethod
    def _drain(proc, log):
        for line in proc.stderr:                            # native libraries' own output; kept for failures
            log.append(line)
            del log[:-200]

    def _job(self, job: dict, timeout: float) -> Result:
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        try:
            got = self.results.get(timeout=timeout)
        except queue.Empty:
            self.close()
            raise TimeoutError(f"the JAX child took over {timeout} s on {job}") from None
        if got is None:                                     # crashed (a segfault, the OOM killer): say so
            code, tail = self.proc.wait(), "".join(self.log)[-3000:]
            self.proc = None
            return Result(code if code else 1, "", f"the JAX child ended (status {code}) during the job\n{tail}")
        self.cpu_s += got["cpu_s"]
        return Result(got["returncode"], got["stdout"], got["stderr"], got["cpu_s"])

    def run(self, code: str, *argv, timeout: float = 900) -> Result:
        """`python -c code *argv` under Keras on JAX, without TensorFlow."""
        return self._job({"code": code, "argv": [str(a) for a in argv]}, timeout)

    def cli(self, *args, timeout: float = 900) -> Result:
        """`python -m archspec *args` under Keras on JAX, without TensorFlow."""
        return self._job({"cli": [str(a) for a in args]}, timeout)

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def _serve():
    import contextlib
    import gc
    import io
    import resource
    import traceback

    def cpu():
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    reply = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")     # as archspec's own entry point does
    import keras

    from archspec.cli import main

    cwd, env, argv = os.getcwd(), dict(os.environ), list(sys.argv)
    for line in sys.stdin:
        job = json.loads(line)
        out, err = io.StringIO(), io.StringIO()
        start = cpu()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                if "cli" in job:
                    sys.argv = ["archspec", *job["cli"]]
                    code = main(job["cli"])
                else:
                    sys.argv = ["-c", *job["argv"]]
                    exec(compile(job["code"], "<string>", "exec"), {"__name__": "__main__"})
                    code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                if not isinstance(exc.code, (int, type(None))):
                    print(exc.code, file=sys.stderr)
            except BaseException:
                traceback.print_exc()
                code = 1
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        sys.argv = list(argv)
        keras.config.set_dtype_policy("float32")
        keras.backend.clear_session()
        gc.collect()
        reply.write(json.dumps({"returncode": code, "stdout": out.getvalue(), "stderr": err.getvalue(),
                                "cpu_s": round(cpu() - start, 2)}) + "\n")


if __name__ == "__main__":
    _serve()
