-- stg_expert_resolutions: an expert's label for a (post, task) whose three annotators all differ.
-- Parameters: $expert_path.
with source as (
    select * from read_parquet($expert_path)
),

final as (
    select
        cast(post_id as bigint)   as post_id,
        cast(task as varchar)     as task,
        cast(label as varchar)    as label,
        cast(expert_id as varchar) as expert_id
    from source
)

select * from final
