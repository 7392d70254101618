-- stg_gold_annotations: candidate annotators' answers on the gold set (their onboarding test).
-- Needs: raw_gold_annotations.
with source as (
    select * from raw_gold_annotations
),

final as (
    select
        cast(annotator_id as varchar) as annotator_id,
        cast(post_id as bigint)       as post_id,
        cast(task as varchar)         as task,
        cast(label as varchar)        as label
    from source
)

select * from final
