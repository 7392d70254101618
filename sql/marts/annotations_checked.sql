-- annotations_checked: every delivered annotation row, with the reason it cannot count (or null).
-- One row per stg_annotations row. An annotator's repeated identical label for an item counts
-- once (the first delivered; later copies are 'duplicate_annotation'); an annotator who gave
-- different labels for the same item has all of them set aside as 'conflicting_annotation'.
-- Invalid rows (missing field, unknown post, label outside the taxonomy) never cancel a valid one.
-- With the onboarding gate on ($gate), every label of an annotator who did not pass the gold set
-- for that task is set aside: 'failed_gold_gate' (answered, below the bar) or 'not_onboarded'
-- (no gold answers for the task).
-- Needs: stg_annotations, shortlist, taxonomy_labels, annotator_gate.
with annotations as (
    select * from stg_annotations
),

checked as (
    select
        a.*,
        case
            when a.annotator_id is null or a.post_id is null or a.task is null or a.label is null
                then 'missing_field'
            when s.post_id is null then 'unknown_post'
            when t.label is null then 'label_not_in_taxonomy'
            when $gate and g.passed is null then 'not_onboarded'
            when $gate and not g.passed then 'failed_gold_gate'
        end as invalid_reason
    from annotations as a
    left join shortlist as s on s.post_id = a.post_id
    left join taxonomy_labels as t on t.taxonomy = a.task and t.label = a.label
    left join annotator_gate as g on g.annotator_id = a.annotator_id and g.task = a.task
),

valid as (
    select
        *,
        min(label) over item <> max(label) over item          as conflicting,
        row_number() over (item order by delivery_order)      as copy_number
    from checked
    where invalid_reason is null
    window item as (partition by annotator_id, post_id, task)
),

final as (
    select annotator_id, post_id, task, label, delivery_order, invalid_reason as reason
    from checked
    where invalid_reason is not null
    union all
    select
        annotator_id, post_id, task, label, delivery_order,
        case
            when conflicting then 'conflicting_annotation'
            when copy_number > 1 then 'duplicate_annotation'
        end as reason
    from valid
)

select * from final order by delivery_order
