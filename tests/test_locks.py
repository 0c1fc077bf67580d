"""A study's locks: one `FileLock` kind, in one folder beside the study, wherever it is run from.

Two commands on one SQLite study, started at once from two folders, must take the same locks:
one runs the sweep, the other is told the study is busy and who holds it. Neither crashes,
no running trial is taken for a dead one, and the budget holds.
"""

import pickle
import subprocess

import pytest
from optuna.trial import TrialState

from nnsweep.study.flock import FileLock
from nnsweep.study.locks import StudyBusyError, take_exclusive
from nnsweep.study.url import StorageURL
from nnsweep.sweep.worker import count_budget
from tests.support.processes import nnsweep_cmd, subprocess_env, wait_exit
from tests.support.readback import load_optuna_study
from tests.support.studyfiles import NO_REFIT, write_cli_study


def test_a_file_lock_is_exclusive_across_processes_and_says_who_holds_it(tmp_path):
    lock = FileLock(tmp_path / "sub" / "x.lock")
    assert lock.acquire(blocking=False) and lock.held
    lock.note_holder("pid 1 on here")
    probe = (
        "import sys; from nnsweep.study.flock import FileLock; "
        "l = FileLock(sys.argv[1]); print(l.acquire(blocking=False), l.holder())"
    )
    other = subprocess.run(
        [nnsweep_cmd()[0], "-c", probe, str(lock.path)],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        check=True,
    )
    assert other.stdout.strip() == "False pid 1 on here"
    lock.release()
    assert not lock.held and FileLock(lock.path).acquire(blocking=False)
    assert pickle.loads(pickle.dumps(lock)).path == lock.path  # only the path travels


def test_a_taken_lock_raises_busy_naming_the_holder(tmp_path):
    first = take_exclusive(FileLock(tmp_path / "s.sweep"), "busy: {holder} ({path})")
    with pytest.raises(StudyBusyError, match=r"busy: pid \d+ on .* \(.*s\.sweep\)"):
        take_exclusive(FileLock(tmp_path / "s.sweep"), "busy: {holder} ({path})")
    first.release()


@pytest.mark.parametrize(
    ("url", "kind", "beside"),
    [
        ("optuna/a.log", "journal", "optuna/a.log.locks"),
        ("sqlite:///db/s.db", "sqlite", "db/s.db.locks"),
        ("postgresql+psycopg2://u:secret@h/db", "postgresql", None),
    ],
)
def test_the_locks_of_a_study_do_not_depend_on_the_current_folder(
    tmp_path, monkeypatch, url, kind, beside
):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    if beside is not None:
        url = url.replace("optuna/", f"{tmp_path}/optuna/").replace("///db/", f"///{tmp_path}/db/")
    monkeypatch.chdir(tmp_path / "a")
    in_a = StorageURL(url).lock_dir
    monkeypatch.chdir(tmp_path / "b")
    assert StorageURL(url).kind == kind and StorageURL(url).lock_dir == in_a
    if beside is not None:
        assert in_a == tmp_path / beside
    assert "secret" not in str(StorageURL(url))


@pytest.mark.slow
def test_two_commands_on_one_sqlite_study_from_two_folders(tmp_path):
    db = tmp_path / "shared" / "study.db"
    db.parent.mkdir()
    url = f"sqlite:///{db}"
    procs = []
    for folder in ("one", "two"):
        study_file = write_cli_study(
            tmp_path / folder,
            "shared",
            storage=url,
            n_trials=6,
            subset=600,
            max_epochs=8,
            batch_size=8,
            extra=NO_REFIT,
        )
        out, err = tmp_path / folder / "out", tmp_path / folder / "err"
        with open(out, "wb") as fo, open(err, "wb") as fe:
            proc = subprocess.Popen(
                nnsweep_cmd("run", study_file, "--no-progress"),
                cwd=tmp_path / folder,
                env=subprocess_env(),
                stdout=fo,
                stderr=fe,
                start_new_session=True,
            )
        procs.append((proc, lambda out=out, err=err: (out.read_text(), err.read_text())))
    codes = [wait_exit(proc, 240, read) for proc, read in procs]
    outputs = [read() for _, read in procs]
    for code, (out, err) in zip(codes, outputs, strict=True):
        assert "Traceback" not in err, err[-3000:]
        assert code in (0, 2), out[-2000:] + err[-3000:]
    if codes.count(2) == 1:  # the second was refused: it names the first one's process
        busy = outputs[codes.index(2)][1]
        ran = procs[codes.index(0)][0]
        assert f"pid {ran.pid}" in busy and "another sweep is running this study" in busy
    study = load_optuna_study("shared", url)
    states = [t.state for t in study.trials]
    assert TrialState.RUNNING not in states and TrialState.FAIL not in states, states
    assert count_budget(study) == 6
