"""The Parquet store: atomic case folders whose files are checked against their hashes on reading."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from toolkit import frames
from toolkit.store import StoreError, read_case, safe_name, write_case


def sample() -> dict[str, pd.DataFrame]:
    trace = frames.from_graph("trace", [
        {"id": "t1", "senderAddress": "A@contoso.com", "recipientAddress": "x@ext.example",
         "receivedDateTime": "2026-11-19T21:00:00.1234567Z", "status": "delivered", "subject": "hi", "size": 10,
         "fromIP": "1.2.3.4", "toIP": "", "messageId": "<m1>"},
    ], accepted_domains=["contoso.com"])
    return {"trace": trace, "signins": frames.empty("signins")}


def test_round_trip_keeps_rows_and_dtypes(tmp_path: Path) -> None:
    folder = write_case(tmp_path / "case", sample(), pd.DataFrame({"kind": ["trace"], "rows": [1]}), {"who": "a"})
    stored = read_case(folder)
    assert stored.meta["who"] == "a" and stored.meta["kinds"] == ["signins", "trace"]
    back = frames.validate("trace", stored.frames["trace"])
    pd.testing.assert_frame_equal(back, sample()["trace"])
    assert str(back["received"].iloc[0]) == "2026-11-19 21:00:00.123456700+00:00"


def test_a_changed_file_is_refused(tmp_path: Path) -> None:
    folder = write_case(tmp_path / "case", sample(), pd.DataFrame({"kind": ["trace"]}), {})
    with (folder / "trace.parquet").open("ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(StoreError, match=r"trace\.parquet does not match its hash"):
        read_case(folder)
    (folder / "trace.parquet").unlink()
    with pytest.raises(StoreError, match=r"trace\.parquet is missing"):
        read_case(folder)


def test_rewrite_replaces_and_a_failed_write_leaves_the_old_case(tmp_path: Path) -> None:
    folder = write_case(tmp_path / "case", sample(), pd.DataFrame({"kind": ["trace"]}), {"v": 1})
    write_case(folder, sample(), pd.DataFrame({"kind": ["trace"]}), {"v": 2})
    assert read_case(folder).meta["v"] == 2

    class Boom(pd.DataFrame):
        def to_parquet(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_case(folder, {"trace": Boom(sample()["trace"])}, pd.DataFrame(), {"v": 3})
    assert read_case(folder).meta["v"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["case"]  # no staging folder left behind


def test_not_a_case_and_bad_names(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not a stored case"):
        read_case(tmp_path)
    assert safe_name("O'Brien@Contoso.com") == "o_brien@contoso.com"
    assert "/" not in safe_name("../../etc/passwd")
    with pytest.raises(StoreError):
        safe_name("..")
