/** The columnar shape of a MovieLens release once read (any format, or the synthetic catalogue). */

/** Which files were read: the CSV releases (20M/25M/32M/latest/latest-small), ML-10M/ML-1M `.dat`, ML-100K. */
export type MovieLensFormat = 'csv' | 'dat' | 'ml-100k' | 'synthetic';

/** Movies, one entry per movie, in file order. */
export interface MovieTable {
  /** [movies] MovieLens movieId. */
  movieId: Int32Array;
  /** [movies] the title as written in the file, e.g. "American President, The (1995)". */
  title: string[];
  /** [movies] genres; empty for "(no genres listed)". */
  genres: string[][];
}

/** Ratings, one entry per row of the ratings file, in file order (20 bytes a row). */
export interface RatingTable {
  length: number;
  /** [n] MovieLens userId. */
  userId: Int32Array;
  /** [n] MovieLens movieId. */
  movieId: Int32Array;
  /** [n] stars (0.5 to 5). */
  rating: Float32Array;
  /** [n] seconds since 1970-01-01 UTC. */
  timestamp: Float64Array;
}

/** Free-text tags users gave to movies. */
export interface TagTable {
  length: number;
  userId: Int32Array;
  movieId: Int32Array;
  tag: string[];
  /** [n] seconds since 1970-01-01 UTC. */
  timestamp: Float64Array;
}

/** Links to IMDb and TMDB (links.csv; ML-100K/1M have none). */
export interface LinkTable {
  movieId: Int32Array;
  /** IMDb id as written ("0114709"), or "" when missing. */
  imdbId: string[];
  /** TMDB id, or -1 when missing. */
  tmdbId: Int32Array;
}

/** The tag genome: relevance in [0, 1] of each genome tag to each movie. */
export interface GenomeTable {
  length: number;
  /** tagId -> tag text. */
  tagNames: Map<number, string>;
  movieId: Int32Array;
  tagId: Int32Array;
  relevance: Float32Array;
}

/** Rows that were read but not kept, by file and reason: nothing disappears without a count. */
export interface DropCount {
  file: string;
  reason: string;
  rows: number;
}

export interface MovieLensData {
  format: MovieLensFormat;
  /** The folder read, or "(synthetic)". */
  source: string;
  /** A human name of the release when it can be told (e.g. "ml-latest-small"). */
  release: string;
  movies: MovieTable;
  ratings: RatingTable;
  tags: TagTable | null;
  genome: GenomeTable | null;
  links: LinkTable | null;
  /** movieId -> description, from the user's optional file. */
  descriptions: Map<number, string> | null;
  dropped: DropCount[];
}
