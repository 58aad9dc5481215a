"""The demo database behind the ``portfolio_analytics`` source: generated, deterministic.

Four strategies' daily returns, eight (fictional) tickers' daily prices and a few trades a
day, over the business days of the last two years up to the day the file is made, so "last
week" and "last month" always have numbers. The same seed gives the same values on every
machine; only the dates move with the day it is made (the ``DAYS`` business days ending
then), so demo reports and tests see the same numbers. Column types are declared (DATE,
TIMESTAMP, BOOLEAN) so results can carry them.
"""

from __future__ import annotations

import os
import random
import sqlite3
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

SOURCE_NAME = "portfolio_analytics"
DAYS = 524  # at least every business day of the last two years (two years hold 522 to 523)
SEED = 20220103
FORMAT = 2  # PRAGMA user_version of files this module writes; older files are made anew

STRATEGIES = {  # name: (mean daily return %, daily volatility %)
    "Global Equity": (0.035, 0.95),
    "Fixed Income": (0.012, 0.30),
    "Multi-Asset": (0.025, 0.60),
    "Momentum": (0.045, 1.30),
}
TICKERS = {  # ticker: starting price
    "ACME": 120.0,
    "BRNX": 48.5,
    "CRWN": 310.0,
    "DLTA": 22.75,
    "ELMS": 87.1,
    "FRGE": 15.4,
    "GLDN": 205.0,
    "HRBR": 64.3,
}

SCHEMA = """
CREATE TABLE portfolio_performance (
    date DATE NOT NULL,
    strategy TEXT NOT NULL,
    "return" REAL NOT NULL,
    benchmark_return REAL NOT NULL,
    PRIMARY KEY (date, strategy)
);
CREATE TABLE prices (
    date DATE NOT NULL,
    ticker TEXT NOT NULL,
    open REAL NOT NULL,
    high REAL NOT NULL,
    low REAL NOT NULL,
    close REAL NOT NULL,
    volume INTEGER NOT NULL,
    PRIMARY KEY (date, ticker)
);
CREATE TABLE trades (
    trade_id INTEGER PRIMARY KEY,
    executed_at TIMESTAMP NOT NULL,
    trade_date DATE NOT NULL,
    strategy TEXT NOT NULL,
    ticker TEXT NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
    quantity INTEGER NOT NULL,
    price REAL NOT NULL,
    notional REAL NOT NULL,
    is_closing BOOLEAN NOT NULL
);
CREATE INDEX idx_trades_date ON trades(trade_date);
"""


def business_days(until: date | None = None) -> list[date]:
    """The ``DAYS`` business days (Monday to Friday) up to ``until`` (default: today, UTC),
    oldest first."""
    day = until or datetime.now(UTC).date()
    days: list[date] = []
    while len(days) < DAYS:
        if day.weekday() < 5:
            days.append(day)
        day -= timedelta(days=1)
    return days[::-1]


def build(path: Path, until: date | None = None, *, anew: bool = False) -> Path:
    """Write the database to ``path``, ending on ``until`` (default: today, UTC), unless this
    module's format of it is there already (or ``anew``); written aside and renamed into
    place, so a crash never leaves half a file and readers of the old one are not disturbed."""
    if not anew and path.exists() and _format(path) == FORMAT:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    conn = sqlite3.connect(partial)
    try:
        conn.executescript(SCHEMA)
        _fill(conn, random.Random(SEED), business_days(until))  # noqa: S311 (not secrets)
        conn.execute(f"PRAGMA user_version = {FORMAT}")
        conn.commit()
    finally:
        conn.close()
    partial.replace(path)
    return path


def stale(path: Path, days: int = 7) -> bool:
    """Whether the data at ``path`` ends more than ``days`` days before today (UTC): a
    long-running install then makes it anew at its next start, so "last week" keeps rows."""
    try:
        last = _read_one(path, "SELECT max(date) FROM portfolio_performance")
    except sqlite3.DatabaseError:
        return True
    today = datetime.now(UTC).date()
    return last is None or date.fromisoformat(last) < today - timedelta(days=days)


def _format(path: Path) -> int | None:
    """The file's ``user_version``; None when it is not a database SQLite can read."""
    try:
        return int(_read_one(path, "PRAGMA user_version"))
    except sqlite3.DatabaseError:
        return None


def _read_one(path: Path, sql: str) -> Any:
    """The one value ``sql`` reads from the file, opened read-only."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


def _fill(conn: sqlite3.Connection, rng: random.Random, days: list[date]) -> None:
    performance = []
    for day in days:
        market = rng.gauss(0.03, 0.8)
        for name, (mean, vol) in STRATEGIES.items():
            benchmark = market * vol / 0.95 * 0.9 + rng.gauss(0, vol * 0.1)
            ret = mean + benchmark * 0.85 + rng.gauss(0, vol * 0.35)
            performance.append((day.isoformat(), name, round(ret, 4), round(benchmark, 4)))
    conn.executemany("INSERT INTO portfolio_performance VALUES (?, ?, ?, ?)", performance)

    prices: list[tuple[str, str, float, float, float, float, int]] = []
    closes = dict(TICKERS)
    for day in days:
        for ticker, previous in closes.items():
            open_ = previous * (1 + rng.gauss(0, 0.004))
            close = open_ * (1 + rng.gauss(0.0003, 0.015))
            high = max(open_, close) * (1 + abs(rng.gauss(0, 0.006)))
            low = min(open_, close) * (1 - abs(rng.gauss(0, 0.006)))
            volume = int(rng.lognormvariate(13, 0.5))
            o, h, lo, c = (round(v, 2) for v in (open_, high, low, close))
            prices.append((day.isoformat(), ticker, o, h, lo, c, volume))
            closes[ticker] = close
    conn.executemany("INSERT INTO prices VALUES (?, ?, ?, ?, ?, ?, ?)", prices)

    by_day = {(d, t): c for d, t, _o, _h, _l, c, _v in prices}
    trades = []
    trade_id = 0
    for day in days:
        for _ in range(rng.randint(2, 8)):
            trade_id += 1
            ticker = rng.choice(list(TICKERS))
            price = round(by_day[(day.isoformat(), ticker)] * (1 + rng.gauss(0, 0.002)), 2)
            quantity = rng.choice([10, 25, 50, 100, 200, 500, 1000])
            seconds = rng.randint(9 * 3600 + 1800, 16 * 3600)
            executed = datetime.combine(day, time()) + timedelta(seconds=seconds)
            trades.append(
                (
                    trade_id,
                    executed.isoformat(sep=" "),
                    day.isoformat(),
                    rng.choice(list(STRATEGIES)),
                    ticker,
                    rng.choice(["BUY", "SELL"]),
                    quantity,
                    price,
                    round(price * quantity, 2),
                    rng.random() < 0.2,
                )
            )
    conn.executemany("INSERT INTO trades VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", trades)
