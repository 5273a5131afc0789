"""Synthetic SendGrid bounces export for the ingest benchmark (SPEC section 5).

    python benchmarks/generate.py --rows 10000000 --out benchmarks/out/sendgrid_bounces-10000000.csv [--seed 42]

Writes `email,created,status,reason` rows shaped like a SendGrid bounces CSV export:

- addresses `<first><sep><last><n>@<domain>` on 301 example domains (`example.com` plus
  `example000..example099` under `.com`, `.org` and `.net`, skewed like real traffic), in mixed
  case (mostly lower, some Title, some UPPER, independently for local part and domain);
- about 20% of rows repeat an address already used elsewhere in the file (often in another case,
  so 10M rows hold about 8M distinct addresses), and about 3% carry padding (a space or tab around
  the address), as hand-edited exports do;
- about 0.5% junk rows whose address is empty, a bare `gmail.com`, or an address without `@`;
- `created` in epoch seconds between 2016-01-01 and 2026-01-01 (UTC);
- `status` among 5.1.1 / 5.2.2 / 4.0.0 / 5.7.1 / 5.1.2 with matching SMTP `reason` texts, which
  contain commas (and sometimes double quotes), so the CSV quotes them.

Everything is generated column-wise with numpy/Polars, in batches of 1M rows appended to one file,
so memory stays bounded (~a few hundred MB) and 10M rows (~1 GB) take well under a minute. The
output is byte-for-byte deterministic for a given (--rows, --seed). The file is written under a
temporary name and renamed at the end, so an interrupted run never leaves a truncated file behind.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

BATCH_ROWS = 1_000_000  # part of the output's identity: changing it changes the file for a seed

DUPLICATE_RATE = 0.2
PADDING_RATE = 0.03
PADDING = (" ", "  ", "\t")
JUNK_RATE = 0.005

CREATED_MIN = 1_451_606_400  # 2016-01-01T00:00:00Z
CREATED_MAX = 1_767_225_600  # 2026-01-01T00:00:00Z (exclusive)

FIRST_NAMES = (
    "james mary john patricia robert jennifer michael linda william elizabeth david barbara "
    "richard susan joseph jessica thomas sarah charles karen christopher lisa daniel nancy "
    "matthew betty anthony margaret mark sandra donald ashley steven kimberly paul emily andrew "
    "donna joshua michelle kenneth carol kevin amanda brian dorothy george melissa timothy "
    "deborah ronald stephanie jason rebecca edward sharon jeffrey laura ryan cynthia jacob kathleen "
    "gary amy nicholas angela eric shirley jonathan anna stephen brenda larry pamela justin emma "
    "scott nicole brandon helen benjamin samantha samuel katherine gregory christine alexander "
    "debra frank rachel patrick carolyn raymond janet jack catherine dennis maria jerry heather "
    "tyler diane aaron ruth jose julie adam olivia nathan joyce henry virginia zachary victoria "
    "lukas sofia jonas lea felix mia noah hannah elias lena leon marie paul julia ben laura "
    "mohammed fatima wei li yuki hiroshi priya arjun ana joao lucas camila mateo valentina"
).split()

LAST_NAMES = (
    "smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez lopez "
    "gonzalez wilson anderson thomas taylor moore jackson martin lee perez thompson white harris "
    "sanchez clark ramirez lewis robinson walker young allen king wright scott torres nguyen hill "
    "flores green adams nelson baker hall rivera campbell mitchell carter roberts gomez phillips "
    "evans turner diaz parker cruz edwards collins reyes stewart morris morales murphy cook rogers "
    "gutierrez ortiz morgan cooper peterson bailey reed kelly howard ramos kim cox ward richardson "
    "watson brooks chavez wood james bennett gray mendoza ruiz hughes price alvarez castillo "
    "sanders patel myers long ross foster jimenez mueller schmidt schneider fischer weber meyer "
    "wagner becker schulz hoffmann koch richter klein wolf schroeder neumann schwarz zimmermann "
    "braun krueger hofmann hartmann lange schmitt werner krause meier lehmann rossi russo ferrari "
    "esposito bianchi romano colombo ricci marino greco dubois durand lefebvre moreau laurent "
    "simon michel leroy roux david bertrand morel fournier girard bonnet dupont lambert fontaine "
    "tanaka suzuki takahashi watanabe ito yamamoto nakamura kobayashi sato wang zhang liu chen "
    "yang huang zhao wu zhou xu sun ma zhu hu guo he lin singh kumar sharma gupta silva santos"
).split()

SEPARATORS = (".", "_", "", "-", ".")

# Status codes with their share of rows and a few realistic reply texts each. Commas everywhere, a
# few embedded double quotes, so the reason column exercises CSV quoting.
STATUSES: tuple[tuple[str, float, tuple[str, ...]], ...] = (
    (
        "5.1.1",
        0.55,
        (
            "550 5.1.1 User unknown, mailbox not found",
            "550 5.1.1 Recipient address rejected: User unknown",
            "550 5.1.1 No such user, please check the address",
            "550 5.1.1 RecipNotFound; not found, address rejected",
        ),
    ),
    (
        "5.2.2",
        0.12,
        (
            "552 5.2.2 Mailbox full, over quota",
            "552 5.2.2 Quota exceeded, try again later",
            "452 5.2.2 Over quota, message deferred",
        ),
    ),
    (
        "4.0.0",
        0.10,
        (
            "421 4.0.0 Temporary failure, try again later",
            "450 4.0.0 Greylisted, please retry in 5 minutes",
            '451 4.0.0 Server busy, "deferred" by remote host',
        ),
    ),
    (
        "5.7.1",
        0.15,
        (
            '550 5.7.1 Rejected by policy, see "https://example.com/p"',
            "554 5.7.1 Client host blocked, see spamhaus.org",
            "550 5.7.1 Unauthenticated mail, DMARC policy reject",
        ),
    ),
    (
        "5.1.2",
        0.08,
        (
            "550 5.1.2 Bad destination host, domain not found",
            "550 5.1.2 Host unknown, Domain name not found",
            "554 5.1.2 DNS lookup failed, no MX record",
        ),
    ),
)


def _domains() -> tuple[list[str], np.ndarray]:
    """301 domains and a skewed (Zipf-like) cumulative distribution over them."""
    names = ["example.com"] + [f"example{i:03d}.{tld}" for tld in ("com", "org", "net") for i in range(100)]
    weights = 1.0 / np.arange(1, len(names) + 1) ** 0.8
    cum = np.cumsum(weights)
    return names, cum / cum[-1]


def _case_variants(words: list[str]) -> list[str]:
    """lower + Title + UPPER, in that order (index + k*len picks variant k)."""
    return list(words) + [w.title() for w in words] + [w.upper() for w in words]


def _mix(ids: np.ndarray, salt: int) -> np.ndarray:
    """A cheap, vectorized 64-bit hash (splitmix64 finalizer) of ids: stable attributes per address."""
    with np.errstate(over="ignore"):
        z = ids.astype(np.uint64) + np.uint64((0x9E3779B97F4A7C15 * (salt + 1)) & 0xFFFFFFFFFFFFFFFF)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _uniform(ids: np.ndarray, salt: int) -> np.ndarray:
    return (_mix(ids, salt) >> np.uint64(11)).astype(np.float64) / float(1 << 53)


class _Vocab:
    def __init__(self) -> None:
        self.first = pl.Series("first", _case_variants(FIRST_NAMES))
        self.last = pl.Series("last", _case_variants(LAST_NAMES))
        self.sep = pl.Series("sep", list(SEPARATORS))
        names, self.domain_cum = _domains()
        self.n_domains = len(names)
        self.domain = pl.Series("domain", _case_variants(names))
        self.status_codes = [code for code, _, _ in STATUSES]
        shares = np.array([share for _, share, _ in STATUSES])
        self.status_cum = np.cumsum(shares) / shares.sum()
        # flat reason table; per status the offset into it and the number of texts
        self.reasons = pl.Series("reason", [text for _, _, texts in STATUSES for text in texts])
        counts = np.array([len(texts) for _, _, texts in STATUSES])
        self.reason_offset = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self.reason_count = counts


def _case_pick(u: np.ndarray) -> np.ndarray:
    """Case variant per row: 0 lower (75%), 1 Title (18%), 2 UPPER (7%)."""
    return np.where(u < 0.75, 0, np.where(u < 0.93, 1, 2)).astype(np.int64)


def make_batch(vocab: _Vocab, start: int, n: int, rng: np.random.Generator) -> pl.DataFrame:
    """Rows start..start+n-1 of the export."""
    ids = np.arange(start, start + n, dtype=np.int64)

    # ~20% of rows re-use the address of another row of the file (seen before, or later in this batch)
    dup = rng.random(n) < DUPLICATE_RATE
    ids[dup] = rng.integers(0, start + n, size=int(dup.sum()))

    # address parts are a function of the address id, so a duplicate is the same address;
    # the letter case is drawn per row, so duplicates often differ in case only
    first_i = (_mix(ids, 1) % np.uint64(len(FIRST_NAMES))).astype(np.int64)
    last_i = (_mix(ids, 2) % np.uint64(len(LAST_NAMES))).astype(np.int64)
    sep_i = (_mix(ids, 3) % np.uint64(len(SEPARATORS))).astype(np.int64)
    dom_i = np.searchsorted(vocab.domain_cum, _uniform(ids, 4), side="right").clip(0, vocab.n_domains - 1)

    local_case = _case_pick(rng.random(n))
    dom_case = _case_pick(rng.random(n) ** 1.5)  # domains are upper-cased a bit more often
    first_i = first_i + local_case * len(FIRST_NAMES)
    last_i = last_i + local_case * len(LAST_NAMES)
    dom_i = dom_i + dom_case * vocab.n_domains

    # ~0.5% junk: 0 empty, 1 bare "gmail.com", 2 address without "@"
    junk_kind = np.where(rng.random(n) < JUNK_RATE, rng.integers(0, 3, size=n), -1)

    status_i = np.searchsorted(vocab.status_cum, rng.random(n), side="right").clip(0, len(STATUSES) - 1)
    reason_i = vocab.reason_offset[status_i] + (rng.random(n) * vocab.reason_count[status_i]).astype(np.int64)
    created = rng.integers(CREATED_MIN, CREATED_MAX, size=n, dtype=np.int64)
    # ~3% padded: 0 before, 1 after, 2 both; with a space, two, or a tab
    pad_kind = np.where(rng.random(n) < PADDING_RATE, rng.integers(0, 3, size=n), -1)
    pad_i = rng.integers(0, len(PADDING), size=n)

    frame = pl.DataFrame(
        {
            "first": vocab.first.gather(first_i),
            "sep": vocab.sep.gather(sep_i),
            "last": vocab.last.gather(last_i),
            "num": pl.Series(ids, dtype=pl.Int64).cast(pl.String),
            "domain": vocab.domain.gather(dom_i),
            "junk": pl.Series(junk_kind, dtype=pl.Int8),
            "created": pl.Series(created),
            "status": pl.Series(vocab.status_codes).gather(status_i),
            "reason": vocab.reasons.gather(reason_i),
            "pad_kind": pl.Series(pad_kind, dtype=pl.Int8),
            "pad": pl.Series(list(PADDING)).gather(pad_i),
        }
    )
    local = pl.concat_str("first", "sep", "last", "num")
    pad, kind = pl.col("pad"), pl.col("pad_kind")
    address = pl.concat_str(local, pl.lit("@"), "domain")
    address = (pl.when(kind == 0).then(pl.concat_str(pad, address)).when(kind == 1).then(pl.concat_str(address, pad))
               .when(kind == 2).then(pl.concat_str(pad, address, pad)).otherwise(address))
    return frame.select(
        email=pl.when(pl.col("junk") == -1)
        .then(address)
        .when(pl.col("junk") == 0)
        .then(pl.lit(None, dtype=pl.String))
        .when(pl.col("junk") == 1)
        .then(pl.lit("gmail.com"))
        .otherwise(pl.concat_str(local, pl.lit("."), "domain")),
        created="created",
        status="status",
        reason="reason",
    )


def generate(rows: int, out: Path, seed: int = 42, *, progress: bool = False) -> dict:
    """Write the export to `out`; returns a small summary (rows, bytes, seconds)."""
    if rows < 1:
        raise ValueError("rows must be positive")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.part")
    vocab = _Vocab()
    seeds = np.random.SeedSequence(seed).spawn((rows + BATCH_ROWS - 1) // BATCH_ROWS)
    started = time.perf_counter()
    try:
        with open(tmp, "wb") as fh:
            for b, start in enumerate(range(0, rows, BATCH_ROWS)):
                n = min(BATCH_ROWS, rows - start)
                batch = make_batch(vocab, start, n, np.random.default_rng(seeds[b]))
                batch.write_csv(fh, include_header=(b == 0), batch_size=65_536)
                del batch
                if progress:
                    print(f"  {start + n:>12,} / {rows:,} rows", file=sys.stderr, end="\r", flush=True)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    if progress:
        print(file=sys.stderr)
    return {"rows": rows, "bytes": out.stat().st_size, "seconds": time.perf_counter() - started, "path": str(out)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a synthetic SendGrid bounces CSV export.")
    parser.add_argument("--rows", type=int, required=True, help="number of data rows (header excluded)")
    parser.add_argument("--out", type=Path, required=True, help="output CSV path")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error("--rows must be positive")
    info = generate(args.rows, args.out, args.seed, progress=sys.stderr.isatty())
    print(f"wrote {info['rows']:,} rows, {info['bytes'] / 1e6:,.1f} MB to {info['path']} in {info['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
