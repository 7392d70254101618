-- stg_gold_labels: the reference label of each gold-set (post, task), set by experts beforehand.
-- Needs: raw_gold_labels.
with source as (
    select * from raw_gold_labels
),

final as (
    select
        cast(post_id as bigint) as post_id,
        cast(task as varchar)   as task,
        cast(label as varchar)  as label
    from source
)

select * from final
