/** Notebook text the extension writes (pure). */

/** The first cell of "New hyperparameter search": load the magic and open the panel. */
export const NEW_SEARCH_CELL = '%load_ext hpo_widget\n%hpo';

/** The notebook model's content for "New hyperparameter search". */
export function newSearchNotebook(): Record<string, unknown> {
  return {
    cells: [
      {
        cell_type: 'code',
        execution_count: null,
        metadata: {},
        outputs: [],
        source: NEW_SEARCH_CELL
      },
      {
        cell_type: 'markdown',
        metadata: {},
        source:
          '`%hpo` opens the tuning panel: pick a preset in its **Preset** tab, or pass your ' +
          'own objective (`%hpo objective --space space`).'
      }
    ],
    metadata: {
      kernelspec: { display_name: 'Python 3 (ipykernel)', language: 'python', name: 'python3' }
    },
    nbformat: 4,
    nbformat_minor: 5
  };
}

/** MIME type of a study dragged from the sidebar (its payload: `studyRef`). */
export const STUDY_MIME = 'application/vnd.hpo-widget.study+json';

export interface IStudyRef {
  storage: string;
  name: string;
}

/** The API path of a study (names are URL-encoded: a study name may hold any character). */
export function studyPath(ref: IStudyRef, ...rest: string[]): string {
  return ['storages', encodeURIComponent(ref.storage), 'studies', encodeURIComponent(ref.name), ...rest]
    .filter(Boolean)
    .join('/');
}

/** A stable id for a dashboard tab and restorer key. */
export function dashboardId(ref: IStudyRef): string {
  return `hpo-dashboard:${ref.storage}:${ref.name}`;
}
