-- neardup_pairs: candidate video pairs verified on their whole bags of frame hashes.
-- For every frame of each video, the nearest frame of the other: the least distance between
-- a's and b's plain hashes, either side's mirrored hash and the other's plain one (a flipped
-- copy), and either side's region hashes (crop windows, insets) and the other's plain one (a
-- cropped copy, a video shown inside another). A frame matches within $frame_bits bits.
-- share_a / share_b: the share of each video's frames that match (vPDQ-style: both
-- directions, so a short clip inside a long one shows as a high share on one side only).
-- Unique key: (video_a, video_b). Needs: neardup_candidates, frames(video, frame, h, hm, p).
with pairs as (
    select
        c.video_a, c.video_b, fa.frame as frame_a, fb.frame as frame_b,
        least(
            bit_count(xor(fa.h, fb.h)),
            bit_count(xor(fa.h, fb.hm)),
            bit_count(xor(fa.hm, fb.h)),
            coalesce(list_min(list_transform(fa.p, lambda r: bit_count(xor(r, fb.h)))), 64),
            coalesce(list_min(list_transform(fb.p, lambda r: bit_count(xor(fa.h, r)))), 64)
        ) as distance
    from neardup_candidates as c
    join frames as fa on fa.video = c.video_a
    join frames as fb on fb.video = c.video_b
),

nearest_a as (
    select video_a, video_b, frame_a, min(distance) as d from pairs group by all
),

nearest_b as (
    select video_a, video_b, frame_b, min(distance) as d from pairs group by all
),

share_a as (
    select video_a, video_b, avg((d <= $frame_bits)::int) as share_a,
           min(d) as best_distance, count(*) as frames_a
    from nearest_a group by all
),

share_b as (
    select video_a, video_b, avg((d <= $frame_bits)::int) as share_b, count(*) as frames_b
    from nearest_b group by all
),

final as (
    select a.video_a, a.video_b, a.share_a, b.share_b, a.best_distance, a.frames_a, b.frames_b
    from share_a as a join share_b as b using (video_a, video_b)
)

select * from final
