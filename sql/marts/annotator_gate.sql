-- annotator_gate: each candidate's accuracy on the gold set, per task, and whether they passed.
-- A gold item answered twice with different labels counts as wrong; an answer to a post or
-- task outside the gold set is ignored. Passing needs at least $min_gold_items answered items
-- and an accuracy of at least $min_gold_accuracy. Unique key: (annotator_id, task).
-- Needs: stg_gold_annotations, stg_gold_labels.
with answers as (
    select
        annotator_id, post_id, task,
        case when count(distinct label) = 1 then min(label) end as label
    from stg_gold_annotations
    where annotator_id is not null and post_id is not null and task is not null
    group by all
),

scored as (
    select
        a.annotator_id,
        a.task,
        count(*)                                       as gold_items,
        count(*) filter (where a.label = g.label)      as correct
    from answers as a
    join stg_gold_labels as g using (post_id, task)
    group by all
),

final as (
    select
        annotator_id,
        task,
        gold_items,
        correct,
        correct / gold_items                                                   as accuracy,
        gold_items >= $min_gold_items and correct / gold_items >= $min_gold_accuracy as passed
    from scored
)

select * from final order by annotator_id, task
