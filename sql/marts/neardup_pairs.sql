-- neardup_pairs: candidate video pairs verified on their whole bags of frame hashes.
-- For every frame of each video, the nearest frame of the other: the least distance between
-- a's and b's plain hashes, either side's mirrored hash and the other's plain one (a flipped
-- copy), and either side's region hashes (crop windows, insets) and the other's plain one (a
-- cropped copy, a video shown inside another). A frame matches within $frame_bits bits.
-- share_a / share_b: the share of each video's frames that match (vPDQ-style: both
-- directions, so a short clip inside a long one shows as a high share on one side only).
-- Copies keep time: aligned_a / aligned_b, the share of each video's frames whose nearest match
-- lies on one line t_b = speed × t_a + offset (speeds 0.6–1.7 on a log grid, offsets binned by
-- $offset_bin seconds), the best line counted. Look-alikes of one static spot match frames
-- scattered in time; a re-upload, trimmed or sped up, does not.
-- Unique key: (video_a, video_b). Needs: neardup_candidates, frames(video, frame, t, h, hm, p).
with pairs as (
    select
        c.video_a, c.video_b, fa.frame as frame_a, fb.frame as frame_b, fa.t as t_a, fb.t as t_b,
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
    select video_a, video_b, frame_a, min(distance) as d, any_value(t_a) as t_a,
           arg_min(t_b, (distance, t_b)) as t_b
    from pairs group by all
),

nearest_b as (
    select video_a, video_b, frame_b, min(distance) as d, any_value(t_b) as t_b,
           arg_min(t_a, (distance, t_a)) as t_a
    from pairs group by all
),

speeds as (
    select exp(ln(0.6) + 0.04 * i) as speed from range(0, 27) as r(i)
),

aligned_a as (
    select video_a, video_b, max(n) as aligned_frames
    from (
        select video_a, video_b, speed, round((t_b - speed * t_a) / $offset_bin) as o,
               count(*) as n
        from nearest_a, speeds where d <= $frame_bits group by all
    )
    group by all
),

aligned_b as (
    select video_a, video_b, max(n) as aligned_frames
    from (
        select video_a, video_b, speed, round((t_a - speed * t_b) / $offset_bin) as o,
               count(*) as n
        from nearest_b, speeds where d <= $frame_bits group by all
    )
    group by all
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
    select a.video_a, a.video_b, a.share_a, b.share_b, a.best_distance, a.frames_a, b.frames_b,
           coalesce(la.aligned_frames, 0) / a.frames_a as aligned_a,
           coalesce(lb.aligned_frames, 0) / b.frames_b as aligned_b
    from share_a as a
    join share_b as b using (video_a, video_b)
    left join aligned_a as la using (video_a, video_b)
    left join aligned_b as lb using (video_a, video_b)
)

select * from final
