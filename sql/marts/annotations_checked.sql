-- annotations_checked: every delivered annotation row, with the reason it cannot count (or null).
-- One row per stg_annotations row; a repeated (annotator, post, task) counts once, its later
-- copies are 'duplicate_annotation'. Needs: stg_annotations, shortlist, taxonomy_labels.
with annotations as (
    select *, row_number() over (
        partition by annotator_id, post_id, task order by label
    ) as copy_number
    from stg_annotations
),

checked as (
    select
        a.annotator_id, a.post_id, a.task, a.label,
        case
            when a.annotator_id is null or a.post_id is null or a.task is null or a.label is null
                then 'missing_field'
            when s.post_id is null then 'unknown_post'
            when t.label is null then 'label_not_in_taxonomy'
            when a.copy_number > 1 then 'duplicate_annotation'
        end as reason
    from annotations as a
    left join shortlist as s on s.post_id = a.post_id
    left join taxonomy_labels as t on t.taxonomy = a.task and t.label = a.label
),

final as (
    select * from checked
)

select * from final
