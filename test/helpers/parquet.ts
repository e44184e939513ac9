// Parquet schema pieces shared by the tests that write Parquet files with hyparquet-writer.

/** A `messages` column as `datasets` writes it: list<struct<role: string, content: string>> (5 schema elements). */
export const MESSAGES_SCHEMA = [
  { name: 'messages', repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
  { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
  { name: 'element', repetition_type: 'OPTIONAL', num_children: 2 },
  { name: 'role', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
  { name: 'content', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
] as const;
