"""Synthetic platform export, shaped like the 3MASSIV source platform, deterministic from a seed.

Writes (under `out_dir`):
    posts/part-NNNNN.parquet      one file per chunk of posts, streamed so 50M posts fit in memory
    creators/part-NNNNN.parquet   the chunk's creators (platform ID, handle, followers)
    opt_out_requests.csv          creators' removal requests, some malformed, repeated or unknown
    takedowns.csv                 videos the platform took down since (post_id, media_sha256,
                                  taken_down_at): their links must stop working
The annotation side (annotations, gold set, expert resolutions) is made later by
`synth.annotations`, because annotators only see the shortlist that curation picks.

Everything a release must not leak is here on purpose: snowflake post IDs that encode creation
time, creator IDs and handles, exact timestamps, media URLs with the handle, captions with
@mentions, e-mails and phone numbers, report counts and moderation labels. A small share of rows
is deliberately bad (nulls, negative counts, unknown languages, impossible durations, repeated
IDs, unparseable timestamps) so that validation has something to catch.
"""

from __future__ import annotations

import csv
import hashlib
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

SNOWFLAKE_EPOCH_MS = 1_288_834_974_657  # Twitter's; platforms use their own fixed epoch
CHUNK_ROWS = 1_000_000
PLATFORM = "sharevideo.example"
EXPORT_START = datetime(2021, 1, 15, tzinfo=UTC)  # a little wider than the paper's window,
EXPORT_END = datetime(2021, 11, 15, tzinfo=UTC)  # so that the window stage has work

LANGUAGE_SHARES = {
    "hi": 0.40,
    "te": 0.08,
    "ta": 0.08,
    "pa": 0.07,
    "bn": 0.07,
    "kn": 0.06,
    "mr": 0.06,
    "gu": 0.05,
    "ml": 0.05,
    "or": 0.04,
    "bho": 0.04,
}
# Eight everyday words per language, in its own script (friend, love, festival, family, song,
# laughter, film, joy), so captions exercise every script the scrubbers must handle.
VOCABULARY = {
    "hi": "दोस्त प्यार त्योहार परिवार गाना हँसी फ़िल्म खुशी",
    "te": "స్నేహం ప్రేమ పండుగ కుటుంబం పాట నవ్వు సినిమా ఆనందం",
    "ta": "நண்பன் காதல் திருவிழா குடும்பம் பாடல் சிரிப்பு சினிமா மகிழ்ச்சி",
    "pa": "ਦੋਸਤ ਪਿਆਰ ਤਿਉਹਾਰ ਪਰਿਵਾਰ ਗੀਤ ਹਾਸਾ ਫਿਲਮ ਖੁਸ਼ੀ",
    "bn": "বন্ধু ভালোবাসা উৎসব পরিবার গান হাসি সিনেমা আনন্দ",
    "kn": "ಸ್ನೇಹ ಪ್ರೀತಿ ಹಬ್ಬ ಕುಟುಂಬ ಹಾಡು ನಗು ಸಿನಿಮಾ ಸಂತೋಷ",
    "mr": "मित्र प्रेम सण कुटुंब गाणं हसू चित्रपट आनंद",
    "gu": "મિત્ર પ્રેમ તહેવાર પરિવાર ગીત હાસ્ય ફિલ્મ આનંદ",
    "ml": "സുഹൃത്ത് പ്രണയം ഉത്സവം കുടുംബം പാട്ട് ചിരി സിനിമ സന്തോഷം",
    "or": "ବନ୍ଧୁ ପ୍ରେମ ପର୍ବ ପରିବାର ଗୀତ ହସ ସିନେମା ଆନନ୍ଦ",
    "bho": "इयार पिरितिया परब परिवार गीत हँसी सनिमा खुसी",
}
HASHTAGS = [
    "#trending",
    "#viral",
    "#foryou",
    "#funny",
    "#love",
    "#dance",
    "#comedy",
    "#festival",
    "#song",
    "#family",
    "#cricket",
    "#pets",
    "#romantic",
    "#memes",
]
SENSITIVE_TAGS = ["#nsfw", "#gore", "#18plus"]
MODERATION_LABELS = ["adult", "violence", "hate", "self_harm", "drugs", "spam", "misleading"]
SYLLABLES = [
    "ra",
    "vi",
    "an",
    "ku",
    "ma",
    "ri",
    "sh",
    "ta",
    "ne",
    "ha",
    "pr",
    "ee",
    "ti",
    "jo",
    "ya",
    "la",
    "so",
    "nu",
    "de",
    "ka",
    "mi",
    "sa",
    "ro",
    "hi",
]


@dataclass(frozen=True)
class ExportSummary:
    posts: int
    creators: int
    opt_out_requests: int
    out_dir: Path


def _pick(rng: np.random.Generator, choices: list[str], p: list[float] | None, n: int) -> pl.Series:
    idx = rng.choice(len(choices), size=n, p=p)
    return pl.Series(choices).gather(pl.Series(idx))


def _handles(rng: np.random.Generator, n: int) -> pl.Series:
    parts = [
        pl.Series(SYLLABLES).gather(pl.Series(rng.integers(0, len(SYLLABLES), n))) for _ in range(3)
    ]
    digits = pl.Series(rng.integers(0, 10_000, n)).cast(pl.String).str.zfill(4)
    return pl.DataFrame({"a": parts[0], "b": parts[1], "c": parts[2], "d": digits}).select(
        pl.concat_str("a", "b", "c", pl.lit("_"), "d").alias("handle")
    )["handle"]


def _creators(
    rng: np.random.Generator, chunk: int, n_posts: int
) -> tuple[pl.DataFrame, np.ndarray]:
    """Creators for one chunk and each one's post count: zeta-distributed, so most post once."""
    counts = np.minimum(rng.zipf(2.0, size=n_posts), 2_000)
    cut = int(np.searchsorted(np.cumsum(counts), n_posts)) + 1
    counts = counts[:cut]
    counts[-1] -= counts.sum() - n_posts
    n = len(counts)
    creator_id = 3_000_000_000 + chunk * 2_000_000 + rng.permutation(2_000_000)[:n]
    primary = _pick(rng, list(LANGUAGE_SHARES), list(LANGUAGE_SHARES.values()), n)
    followers = np.round(rng.lognormal(5.0, 2.0, n) * np.sqrt(counts)).astype(np.int64)
    handles = _handles(rng, n)
    # Handles are unique on a platform; the chunk index and a counter make ours so.
    handles = handles + "_" + pl.Series([f"{chunk:x}{i:x}" for i in range(n)])
    creators = pl.DataFrame(
        {
            "creator_id": creator_id.astype(np.int64),
            "handle": handles,
            "follower_count": followers,
            "primary_language": primary,
            "profile_url": f"https://{PLATFORM}/@" + handles,
        }
    )
    return creators, counts


def _snowflake_ids(ts_ms: np.ndarray, chunk: int) -> np.ndarray:
    """Snowflake IDs (time << 22 | worker << 12 | sequence); `ts_ms` must be sorted."""
    first_of_ms = np.r_[0, np.flatnonzero(np.diff(ts_ms)) + 1]
    run_start = np.repeat(first_of_ms, np.diff(np.r_[first_of_ms, len(ts_ms)]))
    sequence = np.arange(len(ts_ms)) - run_start
    return ((ts_ms - SNOWFLAKE_EPOCH_MS) << 22) | ((chunk % 1024) << 12) | (sequence % 4096)


def _captions(
    rng: np.random.Generator, language: pl.Series, handles: pl.Series, mention_pool: pl.Series
) -> tuple[pl.Series, pl.Series]:
    n = len(language)
    langs = list(VOCABULARY)
    words = [w for lang in langs for w in VOCABULARY[lang].split()]
    offset = language.replace_strict(
        {lang: i * 8 for i, lang in enumerate(langs)}, default=0, return_dtype=pl.Int64
    ).to_numpy()
    n_words = rng.integers(2, 7, n)
    cols = {}
    for slot in range(6):
        idx = pl.Series(offset + rng.integers(0, 8, n))
        word = pl.Series(words).gather(idx)
        cols[f"w{slot}"] = pl.when(pl.lit(pl.Series(n_words > slot))).then(pl.lit(word))
    mention = mention_pool.gather(pl.Series(rng.integers(0, len(mention_pool), n)))
    u = rng.random(n)
    phone = pl.Series(rng.integers(6_000_000_000, 9_999_999_999, n)).cast(pl.String)
    email = handles + "@mail.example"
    sensitive = pl.Series(SENSITIVE_TAGS).gather(pl.Series(rng.integers(0, 3, n)))
    tags = [
        pl.Series(HASHTAGS).gather(pl.Series(rng.integers(0, len(HASHTAGS), n))) for _ in range(3)
    ]
    n_tags = rng.integers(0, 4, n)
    frame = pl.DataFrame(
        {
            "u": u,
            "mention": mention,
            "phone": phone,
            "email": email,
            "sensitive": sensitive,
            "t0": tags[0],
            "t1": tags[1],
            "t2": tags[2],
            "n_tags": n_tags,
        }
    )
    out = frame.select(
        pl.concat_str(
            [
                *cols.values(),
                pl.when(pl.col("u") < 0.15).then(pl.lit("@") + pl.col("mention")),
                pl.when(pl.col("u").is_between(0.15, 0.17)).then(
                    pl.lit("call +91 ") + pl.col("phone")
                ),
                pl.when(pl.col("u").is_between(0.17, 0.185)).then(
                    pl.lit("mail ") + pl.col("email")
                ),
            ],
            separator=" ",
            ignore_nulls=True,
        ).alias("caption"),
        pl.concat_str(
            [
                pl.when(pl.col("n_tags") > 0).then("t0"),
                pl.when(pl.col("n_tags") > 1).then("t1"),
                pl.when(pl.col("n_tags") > 2).then("t2"),
                pl.when(pl.col("u") > 0.994).then("sensitive"),
            ],
            separator=" ",
            ignore_nulls=True,
        ).alias("hashtags"),
    )
    return out["caption"], out["hashtags"]


def _posts_chunk(seed: int, chunk: int, n: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng([seed, chunk])
    creators, counts = _creators(rng, chunk, n)
    owner = rng.permutation(np.repeat(np.arange(len(creators)), counts))

    start_ms = int(EXPORT_START.timestamp() * 1000)
    end_ms = int(EXPORT_END.timestamp() * 1000)
    ts_ms = np.sort(rng.integers(start_ms, end_ms, n))
    post_id = _snowflake_ids(ts_ms, chunk)
    created_at = pl.Series(np.datetime_as_string(ts_ms.astype("datetime64[ms]"), unit="ms")) + "Z"

    # Creators mostly post in their own language.
    own = creators["primary_language"].gather(pl.Series(owner))
    other = _pick(rng, list(LANGUAGE_SHARES), list(LANGUAGE_SHARES.values()), n)
    language = pl.select(
        pl.when(pl.lit(pl.Series(rng.random(n) < 0.9))).then(pl.lit(own)).otherwise(pl.lit(other))
    ).to_series()

    duration = np.round(np.clip(rng.lognormal(math.log(15.0), 0.75, n), 2.0, 180.0), 2)
    # Heavy-tailed, correlated engagement: creator reach × post luck, then rates off views.
    reach = np.log1p(creators["follower_count"].to_numpy()[owner])
    views = np.round(rng.lognormal(3.0 + 0.6 * reach, 1.6)).astype(np.int64)
    like_rate = np.clip(rng.lognormal(math.log(0.04), 0.8, n), 0, 0.9)
    likes = rng.binomial(views, like_rate)
    shares = rng.binomial(views, np.clip(like_rate * rng.lognormal(math.log(0.08), 0.7, n), 0, 1))
    comments = rng.binomial(views, np.clip(like_rate * rng.lognormal(math.log(0.05), 0.7, n), 0, 1))

    handle = creators["handle"].gather(pl.Series(owner))
    checksum = pl.Series(np.frombuffer(rng.bytes(32 * n), dtype="S32")).bin.encode("hex")
    # Re-uploads: about 3% of posts carry the exact media of an earlier post.
    reupload = np.flatnonzero(rng.random(n) < 0.03)
    source = rng.integers(0, n, len(reupload))
    checksum = checksum.scatter(reupload, checksum.gather(source))
    duration[reupload] = duration[source]

    caption, hashtags = _captions(rng, language, handle, creators["handle"])
    reports = rng.poisson(rng.lognormal(-2.0, 1.6, n)).astype(np.int32)
    labelled = rng.random(n) < 0.015
    moderation = pl.Series([None] * n, dtype=pl.String).scatter(
        np.flatnonzero(labelled), _pick(rng, MODERATION_LABELS, None, int(labelled.sum()))
    )

    posts = pl.DataFrame(
        {
            "post_id": post_id.astype(np.int64),
            "creator_id": creators["creator_id"].gather(pl.Series(owner)),
            "created_at": created_at,
            "language": language,
            "duration_s": duration,
            "view_count": views,
            "like_count": likes.astype(np.int64),
            "share_count": shares.astype(np.int64),
            "comment_count": comments.astype(np.int64),
            "media_url": f"https://cdn.{PLATFORM}/v/"
            + handle
            + "/"
            + pl.Series(post_id).cast(pl.String)
            + ".mp4",
            "media_sha256": checksum,
            "caption": caption,
            "hashtags": hashtags,
            "report_count": reports,
            "moderation_label": moderation,
        }
    )
    return _corrupt(rng, posts), creators


def _corrupt(rng: np.random.Generator, posts: pl.DataFrame) -> pl.DataFrame:
    """Plant the bad rows a real export has, about 0.35% of them, one fault per row."""
    n = len(posts)
    faults = [
        "null_creator",
        "null_language",
        "negative_count",
        "unknown_language",
        "bad_duration",
        "duplicate_id",
        "bad_timestamp",
    ]
    rows = np.flatnonzero(rng.random(n) < 0.0035)
    kind = rng.integers(0, len(faults), len(rows))

    def at(fault: str) -> np.ndarray:
        return rows[kind == faults.index(fault)]

    def put(col: str, idx: np.ndarray, values: list[object] | pl.Series) -> pl.Series:
        vals = (
            values if isinstance(values, pl.Series) else pl.Series(values, dtype=posts[col].dtype)
        )
        return posts[col].scatter(idx, vals.gather(pl.Series(rng.integers(0, len(vals), len(idx)))))

    dup = at("duplicate_id")
    posts = posts.with_columns(put("language", at("null_language"), [None]))
    return posts.with_columns(
        put("creator_id", at("null_creator"), [None]),
        put("view_count", at("negative_count"), [-1, -42, -1000]),
        put("language", at("unknown_language"), ["xx", "en-US", "hindi", "zz"]),
        put("duration_s", at("bad_duration"), [-3.0, 0.0, 7200.0, float("nan")]),
        posts["post_id"].scatter(dup, posts["post_id"].gather(pl.Series(np.maximum(dup - 1, 0)))),
        put("created_at", at("bad_timestamp"), ["2021-13-45T99:00:00Z", "yesterday", "", "0"]),
    )


def _opt_out_requests(
    seed: int, sample: list[tuple[int, str]], creators: list[tuple[int, str]], n: int
) -> list[dict]:
    """Opt-out form export: by post URL or whole creator; some malformed, repeated, unknown."""
    rng = np.random.default_rng([seed, 99])
    requests: list[dict] = []
    base = datetime(2021, 12, 1, tzinfo=UTC).timestamp()
    for i in range(n):
        received = datetime.fromtimestamp(base + int(rng.integers(0, 90 * 86400)), UTC)
        roll = rng.random()
        if roll < 0.6:
            post_id, handle = sample[int(rng.integers(0, len(sample)))]
            scope, target = "video", f"https://{PLATFORM}/@{handle}/video/{post_id}"
        elif roll < 0.8:
            _, handle = creators[int(rng.integers(0, len(creators)))]
            scope, target = "creator", f"https://{PLATFORM}/@{handle}"
        elif roll < 0.88:
            scope = "video"
            target = f"https://{PLATFORM}/@nobody_{i}/video/{int(rng.integers(1, 2**62))}"
        elif roll < 0.94:
            scope, target = (
                rng.choice(["", "everything", "video"]),
                rng.choice(["", "not a url", "ftp://x"]),
            )
        else:
            if not requests:
                continue
            prev = requests[int(rng.integers(0, len(requests)))]
            scope, target = prev["scope"], prev["target"]
        requests.append(
            {
                "request_id": f"req-{seed}-{i:06d}",
                "received_at": received.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "requester_email": f"requester{i}@mail.example",
                "scope": str(scope),
                "target": str(target),
            }
        )
    return requests


def _media_corpus(out_dir: Path, sources: int, seed: int) -> pl.DataFrame:
    """A small near-duplicate corpus (each source with every edit, plus distractors), stored as
    media/<sha256>.mp4 like a platform's content-addressed media store: (media_sha256,
    duration_s, clip_id)."""
    from synth.video import synthesize_corpus  # video tools only when asked for

    scratch = out_dir / ".corpus"
    synthesize_corpus(
        # 8 s at least: even the copy with 3 s trimmed stays within the 4.5–116 s bounds
        scratch,
        n_sources=sources,
        n_distractors=3 * sources,
        seed=seed,
        min_s=8,
        max_s=12,
    )
    clips = pl.read_parquet(scratch / "corpus.parquet").sort("clip_id")
    (out_dir / "media").mkdir(exist_ok=True)
    rows = []
    for clip_id, rel, duration in clips.select("clip_id", "path", "duration_s").iter_rows():
        data = (scratch / rel).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        (out_dir / "media" / f"{digest}.mp4").write_bytes(data)
        rows.append((digest, round(float(duration), 2), clip_id))
    shutil.rmtree(scratch)
    media = pl.DataFrame(rows, schema=["media_sha256", "duration_s", "clip_id"], orient="row")
    truth = clips.select("clip_id", "source_id", "edit").join(media, on="clip_id")
    truth.write_parquet(out_dir / "media_truth.parquet")
    return media.join(truth.select("clip_id", "source_id"), on="clip_id", maintain_order="left")


def _attach_media(posts: pl.DataFrame, media: pl.DataFrame, seed: int) -> pl.DataFrame:
    """Give the media files to clean posts (valid, in the paper's window, no sensitive signal)
    so that they reach the video stage; their duration becomes the clip's. They are made the
    most watched posts, so the engagement draws pick them and the demo's release holds
    videos that play."""
    clean = posts.with_row_index("_row").filter(
        pl.col("language").is_in(list(LANGUAGE_SHARES))
        & pl.col("creator_id").is_not_null()
        & pl.col("created_at").is_between(pl.lit("2021-02-05"), pl.lit("2021-10-25"))
        & (pl.col("report_count") <= 2)
        & pl.col("moderation_label").is_null()
        & ~pl.col("hashtags").str.contains("#nsfw|#gore|#18plus")
        & (pl.col("view_count") >= 0)
        & pl.col("post_id").is_unique()
        & pl.col("media_sha256").is_unique()
    )
    rows = clean.sample(media.height, seed=seed)["_row"].to_numpy()
    viral = {c: posts[c].scatter(rows, posts[c].max() * 4) for c in VIRAL_COUNTS}  # type: ignore[operator]
    return posts.with_columns(
        posts["media_sha256"].scatter(rows, media["media_sha256"]),
        posts["duration_s"].scatter(rows, media["duration_s"]),
        *viral.values(),
    )


VIRAL_COUNTS = ("view_count", "like_count", "share_count", "comment_count")


TAKEDOWN_SHARE = 0.001  # of the posts: deleted by their creators on the platform since the export
TAKEDOWN_AT = "2022-01-15T00:00:00Z"


def _taken_down(
    posts: pl.DataFrame, media: pl.DataFrame | None, seed: int
) -> list[tuple[int, str]]:
    """A few posts the platform has taken down since; with real clips, every copy of the first
    source too (so the demo shows a link that stopped working, whichever copy is released)."""
    sample = posts.filter(pl.col("post_id").is_not_null()).sample(
        fraction=TAKEDOWN_SHARE, seed=seed
    )
    if media is not None and media.height:
        first = media.filter(pl.col("source_id") == media["source_id"].drop_nulls().min())
        copies = posts.filter(pl.col("media_sha256").is_in(first["media_sha256"].implode()))
        sample = pl.concat([sample, copies])
    return sample.select("post_id", "media_sha256").unique(maintain_order=True).rows()


def synthesize_export(
    out_dir: Path,
    posts: int,
    seed: int = 7,
    progress: Callable[[int], None] | None = None,
    video_sources: int = 0,
) -> ExportSummary:
    """Write a platform export of `posts` posts; the same (posts, seed) gives the same files.

    With `video_sources`, also real video files for a few posts (media/<sha256>.mp4): each
    source with every platform edit, plus unrelated distractors; media_truth.parquet says which
    clips share a source (for checking, not for curation)."""
    if posts <= 0:
        raise ValueError("posts must be positive")
    (out_dir / "posts").mkdir(parents=True, exist_ok=True)
    (out_dir / "creators").mkdir(parents=True, exist_ok=True)
    media = _media_corpus(out_dir, video_sources, seed) if video_sources else None
    n_chunks = math.ceil(posts / CHUNK_ROWS)
    n_creators = 0
    # Opt-out targets are drawn from a small sample of every chunk. They are copied out as plain
    # rows: a polars slice of a chunk would keep that chunk's string buffers alive.
    opt_sample: list[tuple[int, str]] = []
    first_creators: list[tuple[int, str]] = []
    takedowns: list[tuple[int, str]] = []
    for chunk in range(n_chunks):
        n = min(CHUNK_ROWS, posts - chunk * CHUNK_ROWS)
        chunk_posts, creators = _posts_chunk(seed, chunk, n)
        if chunk == 0 and media is not None:
            chunk_posts = _attach_media(chunk_posts, media, seed)
        name = f"part-{chunk:05d}.parquet"
        chunk_posts.write_parquet(
            out_dir / "posts" / name, compression="zstd", row_group_size=250_000
        )
        creators.write_parquet(out_dir / "creators" / name, compression="zstd")
        n_creators += len(creators)
        if chunk == 0:
            first_creators = creators.select("creator_id", "handle").head(20_000).rows()
        opt_sample += (
            chunk_posts.sample(min(n, 2_000), seed=seed)
            .join(creators.select("creator_id", "handle"), on="creator_id")
            .select("post_id", "handle")
            .rows()
        )
        takedowns += _taken_down(chunk_posts, media, seed + chunk)
        if progress:
            progress(n)
    pl.DataFrame(
        takedowns, schema={"post_id": pl.Int64, "media_sha256": pl.String}, orient="row"
    ).with_columns(taken_down_at=pl.lit(TAKEDOWN_AT)).write_csv(out_dir / "takedowns.csv")
    n_requests = max(10, min(5_000, posts // 2_000))
    requests = _opt_out_requests(seed, opt_sample, first_creators, n_requests)
    with (out_dir / "opt_out_requests.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(requests[0]))
        writer.writeheader()
        writer.writerows(requests)
    return ExportSummary(posts, n_creators, len(requests), out_dir)
