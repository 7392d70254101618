-- neardup_pairs: candidate video pairs verified on their whole bags of frame hashes.
-- For every frame of each video, the nearest frame of the other (for a mirrored candidate, the
-- closer of a's plain vs b's mirrored and a's mirrored vs b's plain hash, so the result does not
-- depend on which video is a); a frame matches within $frame_bits bits. share_a / share_b: the share of
-- each video's frames that match (vPDQ-style: both directions, so a short clip inside a long
-- one shows as a high share on one side only). Unique key: (video_a, video_b, mirrored).
-- Needs: neardup_candidates, frames(video, h, hm).
with pairs as (
    select
        c.video_a, c.video_b, c.mirrored,
        fa.h as ha, fa.frame as frame_a, fb.frame as frame_b,
        case
            when c.mirrored then least(bit_count(xor(fa.h, fb.hm)), bit_count(xor(fa.hm, fb.h)))
            else bit_count(xor(fa.h, fb.h))
        end as distance
    from neardup_candidates as c
    join frames as fa on fa.video = c.video_a
    join frames as fb on fb.video = c.video_b
),

nearest_a as (
    select video_a, video_b, mirrored, frame_a, min(distance) as d from pairs group by all
),

nearest_b as (
    select video_a, video_b, mirrored, frame_b, min(distance) as d from pairs group by all
),

share_a as (
    select video_a, video_b, mirrored, avg((d <= $frame_bits)::int) as share_a,
           min(d) as best_distance, count(*) as frames_a
    from nearest_a group by all
),

share_b as (
    select video_a, video_b, mirrored, avg((d <= $frame_bits)::int) as share_b,
           count(*) as frames_b
    from nearest_b group by all
),

final as (
    select a.video_a, a.video_b, a.mirrored, a.share_a, b.share_b, a.best_distance,
           a.frames_a, b.frames_b
    from share_a as a join share_b as b using (video_a, video_b, mirrored)
)

select * from final
