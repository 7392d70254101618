-- labels_voted: the final label per shortlisted (post, task), and how it was reached.
-- A label needs a strict majority of the item's valid annotators (2 of 3; a 2–2 split is no
-- majority). Without one, the experts decide, if they answered and agree; otherwise, or with
-- fewer than three valid annotators, the label is held back, never guessed.
-- Unique key: (post_id, task). resolution in ('majority', 'expert', 'needs_expert',
-- 'needs_annotation'); label is null exactly when resolution starts with 'needs_'.
-- Needs: shortlist, tasks, annotations_checked, stg_expert_resolutions, taxonomy_labels.
with valid as (
    select * from annotations_checked where reason is null
),

items as (
    select s.post_id, t.task from shortlist as s cross join tasks as t
),

votes as (
    select post_id, task, label, count(*) as votes
    from valid
    group by all
),

annotators as (
    select post_id, task, count(*) as annotators
    from valid
    group by all
),

top_vote as (
    select * from votes
    qualify row_number() over (partition by post_id, task order by votes desc, label) = 1
),

experts as (
    select e.post_id, e.task, min(e.label) as label
    from stg_expert_resolutions as e
    join taxonomy_labels as t on t.taxonomy = e.task and t.label = e.label
    group by all
    having count(distinct e.label) = 1  -- experts who disagree settle nothing
),

final as (
    select
        i.post_id,
        i.task,
        coalesce(a.annotators, 0) as annotators,
        case
            when coalesce(a.annotators, 0) < 3 then null
            when v.votes * 2 > a.annotators then v.label
            else e.label
        end as label,
        case
            when coalesce(a.annotators, 0) < 3 then 'needs_annotation'
            when v.votes * 2 > a.annotators then 'majority'
            when e.label is not null then 'expert'
            else 'needs_expert'
        end as resolution
    from items as i
    left join annotators as a using (post_id, task)
    left join top_vote as v using (post_id, task)
    left join experts as e using (post_id, task)
)

select * from final order by post_id, task
