-- stg_annotations: annotators' labels as delivered, one row per (annotator, post, task).
-- Staging only renames and casts; validation and voting live in the marts.
-- Parameters: $annotations_path (Parquet file or list of files).
with source as (
    select * from read_parquet($annotations_path)
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
