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

-- Each frame of either video (side 'a' or 'b'), its nearest frame in the other video: the
-- distance, its own time and the matched frame's time (the earliest among equally near ones).
nearest as (
    select video_a, video_b, 'a' as side, min(distance) as d, any_value(t_a) as t_own,
           arg_min(t_b, (distance, t_b)) as t_other
    from pairs group by video_a, video_b, frame_a
    union all
    select video_a, video_b, 'b' as side, min(distance) as d, any_value(t_b) as t_own,
           arg_min(t_a, (distance, t_a)) as t_other
    from pairs group by video_a, video_b, frame_b
),

speeds as (
    select exp(ln(0.6) + 0.04 * i) as speed from range(0, 27) as r(i)
),

aligned as (
    select video_a, video_b, side, max(n) as aligned_frames
    from (
        select video_a, video_b, side, speed,
               round((t_other - speed * t_own) / $offset_bin) as o, count(*) as n
        from nearest, speeds where d <= $frame_bits group by all
    )
    group by all
),

shares as (
    select video_a, video_b, side, avg((d <= $frame_bits)::int) as share,
           min(d) as best_distance, count(*) as frames
    from nearest group by all
),

final as (
    select
        s.video_a, s.video_b,
        max(s.share) filter (where s.side = 'a')                                   as share_a,
        max(s.share) filter (where s.side = 'b')                                   as share_b,
        min(s.best_distance)                                                       as best_distance,
        max(s.frames) filter (where s.side = 'a')                                  as frames_a,
        max(s.frames) filter (where s.side = 'b')                                  as frames_b,
        coalesce(max(l.aligned_frames) filter (where s.side = 'a'), 0)
            / max(s.frames) filter (where s.side = 'a')                            as aligned_a,
        coalesce(max(l.aligned_frames) filter (where s.side = 'b'), 0)
            / max(s.frames) filter (where s.side = 'b')                            as aligned_b
    from shares as s
    left join aligned as l using (video_a, video_b, side)
    group by s.video_a, s.video_b
)

select * from final
