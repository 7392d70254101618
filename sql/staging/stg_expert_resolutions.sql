-- stg_expert_resolutions: an expert's label for a (post, task) the annotators could not settle.
-- Needs: raw_expert_resolutions.
with source as (
    select * from raw_expert_resolutions
),

final as (
    select
        cast(post_id as bigint)    as post_id,
        cast(task as varchar)      as task,
        cast(label as varchar)     as label,
        cast(expert_id as varchar) as expert_id
    from source
)

select * from final
